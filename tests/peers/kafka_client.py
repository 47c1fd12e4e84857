"""A third-party Kafka client for the tests: confluent-kafka (its own librdkafka).

    kafka_client.py produce BOOTSTRAP TOPIC         publishes each stdin line, flushes
    kafka_client.py produce1 BOOTSTRAP TOPIC        the same, each line flushed alone (one batch each)
    kafka_client.py consume BOOTSTRAP TOPIC N SECS  prints N payloads read from the start
                                                    of every partition, within SECS seconds

With KAFKA_SASL_USER, KAFKA_SASL_PASS and KAFKA_SASL_MECHANISM set, every
client authenticates with SASL (SASL_PLAINTEXT) as that user.
"""
import os
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition


def config(bootstrap, **more):
    c = {"bootstrap.servers": bootstrap, **more}
    if os.environ.get("KAFKA_SASL_USER"):
        c.update({
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": os.environ["KAFKA_SASL_MECHANISM"],
            "sasl.username": os.environ["KAFKA_SASL_USER"],
            "sasl.password": os.environ["KAFKA_SASL_PASS"],
        })
    return c


def produce(bootstrap, topic, each=False):
    p = Producer(config(bootstrap))
    n = 0
    for line in sys.stdin:
        p.produce(topic, line.rstrip("\n").encode())
        p.poll(0)
        if each:
            p.flush(10)
        n += 1
    left = p.flush(10)
    if left:
        sys.exit(f"{left} of {n} messages not delivered")


def consume(bootstrap, topic, n, secs):
    c = Consumer(config(bootstrap, **{"group.id": "py", "enable.auto.commit": False}))
    md = c.list_topics(topic, timeout=secs)
    parts = sorted(md.topics[topic].partitions)
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    got = []
    deadline = time.monotonic() + secs
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        got.append((m.partition(), m.offset(), m.value().decode()))
    c.close()
    for _, _, v in sorted(got):
        print(v)
    if len(got) < n:
        sys.exit(f"read {len(got)} of {n} messages in {secs} s")


if __name__ == "__main__":
    if sys.argv[1] in ("produce", "produce1"):
        produce(sys.argv[2], sys.argv[3], each=sys.argv[1] == "produce1")
    else:
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
