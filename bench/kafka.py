"""Kafka rows of scripts/bench: one tansu broker on 127.0.0.1, one topic loaded
with N messages, then each reader reads all N from offset 0, in interleaved
rounds: wsdial's read loop, rdkafka's BaseConsumer used directly (the
baseline: wsdial should reach at least 0.9 of it) and confluent-kafka
(Python; wsdial should be at least 10 times as fast). Each reader looks at
every message's payload, topic, partition and offset. Rows: messages/s from
the first message to the last, and the reader process's CPU seconds (user +
system, all threads, librdkafka's included) per million messages over the
same span. Prints the table and appends it to OUT as a section.

    python bench/kafka.py KAFKA_BENCH TANSU OUT [--quick]

BENCH_N=COUNT in the environment overrides N (200,000; 50,000 with --quick);
BENCH_ROUNDS=R overrides the rounds (5; 3 with --quick); BENCH_PYTHON=0
leaves confluent-kafka out; BENCH_BEFORE=PATH adds a row for another build's
kafka-bench's wsdial reader (a before/after comparison in the same rounds).
"""
import os
import socket
import statistics
import subprocess
import sys
import time

BENCH, TANSU, OUT = sys.argv[1:4]
QUICK = "--quick" in sys.argv
N = int(os.environ.get("BENCH_N", 0)) or (50_000 if QUICK else 200_000)
SIZE = 200
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 0)) or (3 if QUICK else 5)
TOPIC = "bench"

PY = """
import resource, sys, time
from confluent_kafka import Consumer, TopicPartition
bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
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
    m.value(), m.topic(), m.partition(), m.offset()
    if got == 0:
        start, cpu0 = time.perf_counter(), cpu()
    got += 1
print((n - 1) / (time.perf_counter() - start), cpu() - cpu0)
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
        }
        if os.environ.get("BENCH_PYTHON", "1") != "0":
            readers["confluent-kafka (Python)"] = [sys.executable, "-c", PY, bootstrap, TOPIC, str(N)]
        if os.environ.get("BENCH_BEFORE"):
            readers["wsdial read loop, BENCH_BEFORE's build"] = [os.environ["BENCH_BEFORE"], "wsdial", bootstrap,
                                                                 TOPIC, str(N)]
        runs = {k: [] for k in readers}
        for _ in range(ROUNDS):
            for k, cmd in readers.items():
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
                rate, cpu = map(float, out.stdout.strip().splitlines()[-1].split())
                runs[k].append((rate, cpu / (N - 1) * 1e6))
    finally:
        broker.kill()
        broker.wait()
    med = {k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v)) for k, v in runs.items()}
    base = med["rdkafka BaseConsumer (direct)"]
    w = med["wsdial read loop"]
    lines = [
        "",
        "## Kafka (kafka://, against tansu)",
        "",
        f"{N:,} messages of {SIZE} B in one partition of a tansu broker (memory storage) on 127.0.0.1, "
        f"read from offset 0, each reader taking every message's payload, topic, partition and offset; "
        f"median of {ROUNDS} interleaved rounds: messages/s from the first message to the last, and the "
        "reader process's CPU seconds (user + system, all threads, librdkafka's included) per million "
        "messages over that span. Targets: wsdial >= 0.9 of rdkafka used directly; >= 10x confluent-kafka. "
        "\"wsdial vs this (CPU)\" is the other reader's CPU per message over wsdial's (above 1: wsdial costs less).",
        "",
        "| reader | messages/s | CPU s per million | vs rdkafka direct (msg/s) | wsdial vs this (msg/s) "
        "| wsdial vs this (CPU) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for k, (rate, c) in med.items():
        lines.append(f"| {k} | {rate:,.0f} | {c:.2f} | {rate / base[0]:.2f} | {w[0] / rate:.2f} | {c / w[1]:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(OUT, "a") as f:
        f.write(text)


main()
