"""Kafka rows of scripts/bench: one tansu broker on 127.0.0.1, one topic loaded
with N messages, then each reader reads all N from offset 0, in interleaved
rounds: wsdial's read loop, rdkafka's BaseConsumer used directly (the
baseline: wsdial should reach at least 0.9 of it) and confluent-kafka
(Python; wsdial should be at least 10 times as fast). Prints the table and
appends it to OUT as a section.

    python bench/kafka.py KAFKA_BENCH TANSU OUT [--quick]
"""
import socket
import statistics
import subprocess
import sys
import time

BENCH, TANSU, OUT = sys.argv[1:4]
QUICK = "--quick" in sys.argv
N = 50_000 if QUICK else 200_000
SIZE = 200
ROUNDS = 3 if QUICK else 5
TOPIC = "bench"

PY = """
import sys, time
from confluent_kafka import Consumer, TopicPartition
bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "py", "enable.auto.commit": False})
parts = c.list_topics(topic, timeout=10).topics[topic].partitions
c.assign([TopicPartition(topic, p, 0) for p in parts])
got, start = 0, None
while got < n:
    m = c.poll(30)
    if m is None:
        sys.exit(f"nothing for 30 s after {got}")
    if m.error():
        continue
    m.value()
    if got == 0:
        start = time.perf_counter()
    got += 1
print((n - 1) / (time.perf_counter() - start))
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen([TANSU, "broker", "--listener-url", url, "--advertised-listener-url", url,
                               "--storage-engine", "memory://tansu/", "--silent"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("tansu did not start")
                time.sleep(0.05)
        subprocess.run([TANSU, "topic", "create", TOPIC, "--partitions", "1", "--broker", url],
                       check=True, stdout=subprocess.DEVNULL, timeout=60)
        bootstrap = f"127.0.0.1:{port}"
        subprocess.run([BENCH, "produce", bootstrap, TOPIC, str(N), str(SIZE)], check=True, timeout=600)
        readers = {
            "wsdial read loop": [BENCH, "wsdial", bootstrap, TOPIC, str(N)],
            "rdkafka BaseConsumer (direct)": [BENCH, "rdkafka", bootstrap, TOPIC, str(N)],
            "confluent-kafka (Python)": [sys.executable, "-c", PY, bootstrap, TOPIC, str(N)],
        }
        runs = {k: [] for k in readers}
        for _ in range(ROUNDS):
            for k, cmd in readers.items():
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
                runs[k].append(float(out.stdout.strip().splitlines()[-1]))
    finally:
        broker.kill()
        broker.wait()
    med = {k: statistics.median(v) for k, v in runs.items()}
    base = med["rdkafka BaseConsumer (direct)"]
    lines = [
        "",
        "## Kafka (kafka://, against tansu)",
        "",
        f"{N:,} messages of {SIZE} B in one partition of a tansu broker (memory storage) on 127.0.0.1, "
        f"read from offset 0; median of {ROUNDS} interleaved rounds, messages/s from the first message "
        "to the last. Targets: wsdial >= 0.9 of rdkafka used directly; >= 10x confluent-kafka.",
        "",
        "| reader | messages/s | vs rdkafka direct | wsdial vs this |",
        "|---|---:|---:|---:|",
    ]
    for k, v in med.items():
        lines.append(f"| {k} | {v:,.0f} | {v / base:.2f} | {med['wsdial read loop'] / v:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(OUT, "a") as f:
        f.write(text)


main()
