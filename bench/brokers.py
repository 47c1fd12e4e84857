"""MQTT, NATS and AMQP rows of scripts/bench: mosquitto and nats-server started
here on 127.0.0.1 (RabbitMQ by scripts/bench, through
scripts/servers.d/rabbitmq.sh; its port in WSDIAL_AMQP_PORT), and per broker,
in interleaved rounds, three readers of the same load: wsdial's read loop,
the client crate wsdial uses called directly (the baseline: wsdial should reach
at least 0.9 of its messages/s) and the Python client (wsdial should be at
least 10 times as fast).

The load, per broker:
- AMQP: a backlog. Before each reader starts, its own queue is filled with N
  messages of SIZE bytes (broker-bench fill, publisher confirms); the reader
  then drains it as fast as it and RabbitMQ can. No publisher runs meanwhile.
- MQTT and NATS: live. One publisher process (broker-bench publish) sends N
  messages of SIZE bytes as fast as the broker takes them, started once the
  reader is subscribed (it has seen the publisher's marker). NATS core keeps
  nothing for a subscriber to drain later, and wsdial's mqtt:// always asks
  for a clean session (mosquitto keeps nothing for it either), so these rates
  are bounded by the publisher and the broker as much as by the reader.
  NATS is run twice: flooded, and paced (bursts of 100, at PACED["nats"]
  messages/s) so that every reader keeps up and none loses any. Both NATS
  readers give async-nats the same subscription capacity (see broker-bench).
Rows: messages/s from the first message of the load to the last, and the
reader process's CPU seconds per million messages over the same span (the CPU
is the client's own cost, whatever bounds the rate).
Prints the table and appends it to OUT as a section.

    python bench/brokers.py BROKER_BENCH OUT [--quick]

BENCH_N=COUNT in the environment overrides N (200,000; 50,000 with --quick);
BENCH_BROKERS=nats,amqp (any of mqtt, nats, amqp) runs only those;
BENCH_NATS_RATE=MSGS_PER_S sets the paced NATS load's rate (100,000);
BENCH_BEFORE=PATH adds a row for another build's broker-bench's wsdial reader
(a before/after comparison in the same rounds).
"""
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH, OUT = sys.argv[1:3]
QUICK = "--quick" in sys.argv
N = int(os.environ.get("BENCH_N", 0)) or (50_000 if QUICK else 200_000)
SIZE = 200
ROUNDS = 3 if QUICK else 5
ONLY = set(filter(None, os.environ.get("BENCH_BROKERS", "mqtt,nats,amqp").split(",")))

# The Python readers: the same protocol as broker-bench's (`ready` at the first
# marker, then `GOT SECONDS CPU_SECONDS`, seconds to the last message got), CPU
# from getrusage (all threads).
PY_COMMON = """
import resource, sys, time
scheme, target, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
class Count:
    ready, got, start, last = False, 0, None, None
    def see(self, payload):
        if len(payload) == size:
            if self.got == 0:
                self.start = (time.perf_counter(), cpu())
            self.got += 1
            self.last = time.perf_counter()
        elif not self.ready and payload == b"m":
            self.ready = True
            print("ready", flush=True)
        return self.got >= n
    def report(self):
        if self.start is None:
            print("0 0 0", flush=True)
        else:
            print(self.got, self.last - self.start[0], cpu() - self.start[1], flush=True)
count = Count()
"""

PY_MQTT = PY_COMMON + """
import paho.mqtt.client as mqtt
host, port = target.rsplit(":", 1)
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-py")
c.on_connect = lambda c, u, f, rc, p: c.subscribe("bench", qos=0)
def on_message(c, u, m):
    if count.see(m.payload):
        c.disconnect()
c.on_message = on_message
c.connect(host, int(port), keepalive=30)
last = [time.monotonic(), 0]
while c.loop(timeout=1.0) == mqtt.MQTT_ERR_SUCCESS:
    if count.got != last[1]:
        last = [time.monotonic(), count.got]
    elif time.monotonic() - last[0] > 10:
        break
count.report()
"""

PY_NATS = PY_COMMON + """
import asyncio, nats
async def main():
    nc = await nats.connect(f"nats://{target}")
    done = asyncio.Event()
    async def cb(m):
        if count.see(m.data):
            done.set()
    await nc.subscribe("bench", cb=cb)
    last = 0
    while not done.is_set():
        try:
            await asyncio.wait_for(done.wait(), 10)
        except asyncio.TimeoutError:
            if count.got == last:
                break
            last = count.got
    count.report()
    await nc.close()
asyncio.run(main())
"""

PY_AMQP = PY_COMMON + """
import pika
hostport, queue = target.split("/", 1)
host, port = hostport.rsplit(":", 1)
conn = pika.BlockingConnection(pika.ConnectionParameters(
    host=host, port=int(port), credentials=pika.PlainCredentials("alice", "s3cret")))
ch = conn.channel()
ch.queue_declare(queue=queue)
ch.basic_qos(prefetch_count=1000)
pending = [0]
def on_message(ch, method, props, body):
    done = count.see(body)
    pending[0] += 1
    if pending[0] == 64 or done:
        ch.basic_ack(method.delivery_tag, multiple=True)
        pending[0] = 0
    if done:
        ch.stop_consuming()
ch.basic_consume(queue=queue, on_message_callback=on_message)
last = [time.monotonic(), 0]
def watchdog():
    if count.got >= n:
        return
    if count.got == last[1] and time.monotonic() - last[0] > 10:
        ch.stop_consuming()
        return
    if count.got != last[1]:
        last[0], last[1] = time.monotonic(), count.got
    conn.call_later(1, watchdog)
conn.call_later(1, watchdog)
ch.start_consuming()
count.report()
"""

PY = {"mqtt": PY_MQTT, "nats": PY_NATS, "amqp": PY_AMQP}
CRATE = {"mqtt": "rumqttc Client (direct)", "nats": "async-nats, current-thread runtime (direct)",
         "amqp": "lapin consumer (direct)"}
PYNAME = {"mqtt": "paho-mqtt (Python)", "nats": "nats-py (Python)", "amqp": "pika (Python)"}
TITLE = {"mqtt": "MQTT (mqtt://, against mosquitto; QoS 0 both ways)",
         "nats": "NATS (nats://, against nats-server)",
         "amqp": "AMQP (amqp://, against RabbitMQ; each reader drains a backlog of its own; "
                 "prefetch 1000, acknowledged 64 at a time)"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def await_port(port, what, proc):
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{what} did not start")
            time.sleep(0.02)


def line(proc, deadline, what):
    """The reader's next stdout line, or exit past the deadline."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            sys.exit(f"{what}: no answer in time")
        r, _, _ = select.select([proc.stdout], [], [], left)
        if r:
            s = proc.stdout.readline()
            if not s:
                proc.wait()
                sys.exit(f"{what}: exited ({proc.returncode}) before answering")
            return s.strip()


# The brokers whose live load is also sent paced (messages/s, BENCH_RATE to
# broker-bench publish), a rate every reader keeps up with: the flood's rate
# counts only what each reader got, so a reader that loses less looks slower;
# at this pace all get everything and the CPU per message compares their cost.
PACED = {"nats": int(os.environ.get("BENCH_NATS_RATE", 0)) or 100_000}

# The brokers whose load is a backlog filled before the reader starts.
BACKLOG = {"amqp"}


def backlog_run(scheme, target, reader_cmd, what):
    """One reader draining a backlog of N: (got, seconds, cpu seconds)."""
    try:
        fill = subprocess.run([BENCH, "fill", scheme, target, str(N), str(SIZE)], timeout=600)
    except subprocess.TimeoutExpired:
        sys.exit(f"{what}: filling the queue took over 600 s")
    if fill.returncode != 0:
        sys.exit(f"{what}: filling the queue failed ({fill.returncode})")
    reader = subprocess.Popen(reader_cmd + [scheme, target, str(N), str(SIZE)],
                              stdout=subprocess.PIPE, text=True)
    try:
        got, secs, cpu = line(reader, time.monotonic() + 600, what).split()
        if reader.wait(timeout=60) != 0:
            sys.exit(f"{what}: exit status {reader.returncode}")
        return int(got), float(secs), float(cpu)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()


def one_run(scheme, target, reader_cmd, what, pace=None):
    """One reader against one load (paced at PACE messages/s when given):
    (got, seconds, cpu seconds)."""
    if scheme in BACKLOG:
        return backlog_run(scheme, target, reader_cmd, what)
    env = dict(os.environ, BENCH_RATE=str(pace)) if pace else None
    pub = subprocess.Popen([BENCH, "publish", scheme, target, str(N), str(SIZE)],
                           stdin=subprocess.PIPE, text=True, env=env)
    reader = subprocess.Popen(reader_cmd + [scheme, target, str(N), str(SIZE)],
                              stdout=subprocess.PIPE, text=True)
    try:
        got = line(reader, time.monotonic() + 30, what)
        if got != "ready":
            sys.exit(f"{what}: said {got!r} instead of ready")
        pub.stdin.write("go\n")
        pub.stdin.flush()
        got, secs, cpu = line(reader, time.monotonic() + 600, what).split()
        if reader.wait(timeout=60) != 0:
            sys.exit(f"{what}: exit status {reader.returncode}")
        if pub.wait(timeout=60) != 0:
            sys.exit(f"{what}: the publisher failed ({pub.returncode})")
        return int(got), float(secs), float(cpu)
    finally:
        for p in (pub, reader):
            if p.poll() is None:
                p.kill()
                p.wait()


def bench(scheme, target_of, pace=None):
    """One section: every reader against the same load, flooded or paced at PACE."""
    readers = {
        "wsdial read loop": [BENCH, "wsdial"],
        CRATE[scheme]: [BENCH, "direct"],
        PYNAME[scheme]: [sys.executable, "-c", PY[scheme]],
    }
    if os.environ.get("BENCH_BEFORE"):
        readers["wsdial read loop, BENCH_BEFORE's build"] = [os.environ["BENCH_BEFORE"], "wsdial"]
    runs = {k: [] for k in readers}
    for r in range(ROUNDS):
        for i, (k, cmd) in enumerate(readers.items()):
            runs[k].append(one_run(scheme, target_of(r, i), cmd, f"{scheme} {k}", pace))
    rows = {}
    for k, v in runs.items():
        lost = sum(N - g for g, _, _ in v)
        rate = statistics.median((g - 1) / s if s > 0 else 0 for g, s, _ in v)
        cpu_per_m = statistics.median(c / g * 1e6 if g else float("inf") for g, _, c in v)
        rows[k] = (rate, cpu_per_m, lost)
    w = rows["wsdial read loop"]
    base = rows[CRATE[scheme]]
    lines = [
        "",
        f"## {TITLE[scheme]}" + (f"; paced: {pace:,} messages/s in bursts of 100" if pace
                                 else ("; flood" if scheme in PACED else "")),
        "",
        "| reader | messages/s | CPU s per million | vs direct (msg/s) | wsdial vs this (msg/s) | wsdial vs this (CPU) | lost |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for k, (rate, c, lost) in rows.items():
        lines.append(f"| {k} | {rate:,.0f} | {c:.2f} | {rate / base[0]:.2f} | {w[0] / rate:.2f} | "
                     f"{c / w[1]:.2f} | {lost} |")
    py = rows[PYNAME[scheme]]
    met = lambda ok: "met" if ok else "MISSED"
    lines += ["", f"Targets: wsdial {w[0] / base[0]:.2f} of the crate's messages/s (0.9: {met(w[0] >= 0.9 * base[0])}); "
              f"{w[0] / py[0]:.2f}x the Python client's messages/s (10x: {met(w[0] >= 10 * py[0])}), "
              f"{py[1] / w[1]:.2f}x less CPU per message."]
    lossy = [k for k, (_, _, lost) in rows.items() if lost]
    if lossy:
        lines.append(f"Lost messages ({', '.join(lossy)}): those readers did not keep up with the load, so their "
                     "messages/s are over what they got, not the same load as the others'.")
    return lines


def main():
    lines = [
        "",
        "## Brokers: MQTT, NATS (live load), AMQP (backlog)",
        "",
        f"MQTT, NATS: one publisher process sends {N:,} messages of {SIZE} B as fast as the broker takes them, "
        "once the reader is subscribed; each reader (its own process) reads them all (the rate is bounded by "
        "the publisher and the broker too: compare the CPU). "
        f"AMQP: each reader drains a queue of its own, filled with {N:,} messages of {SIZE} B before it starts. "
        f"Median of {ROUNDS} interleaved rounds: messages/s from the first message of the load to the last, "
        "and the reader process's CPU seconds (user + system, all threads) per million messages over that span. "
        "Targets: wsdial >= 0.9 of the crate used directly, >= 10x the Python client. "
        "\"wsdial vs this (CPU)\" is the other reader's CPU per message over wsdial's (above 1: wsdial costs less). "
        "\"lost\": messages of the load a reader did not get, summed over the rounds.",
    ]
    tmp = tempfile.mkdtemp(prefix="wsdial-bench-brokers.")
    os.chmod(tmp, 0o755)
    procs = []
    try:
        if "mqtt" in ONLY:
            lines += mqtt(tmp, procs)
        if "nats" in ONLY:
            lines += nats(procs)
        amqp = os.environ.get("WSDIAL_AMQP_PORT")
        if "amqp" not in ONLY:
            pass
        elif amqp:
            # A fresh queue per run: nothing left over from the one before.
            lines += bench("amqp", lambda r, i: f"127.0.0.1:{amqp}/bench-{os.getpid()}-{r}-{i}")
        else:
            lines += ["", "AMQP: left out (RabbitMQ did not start; WSDIAL_AMQP_PORT unset)."]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join(lines) + "\n"
    print(text)
    with open(OUT, "a") as f:
        f.write(text)


def mqtt(tmp, procs):
    """The MQTT section, against a mosquitto started for it."""
    port = free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n"
                "max_queued_messages 0\nmax_queued_bytes 0\n")
    os.chmod(conf, 0o644)
    mosq = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", conf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(mosq)
    await_port(port, "mosquitto", mosq)
    lines = bench("mqtt", lambda r, i: f"127.0.0.1:{port}")
    mosq.kill()
    return lines


def nats(procs):
    """The NATS section, against a nats-server started for it."""
    port = free_port()
    nats = subprocess.Popen([shutil.which("nats-server") or "/usr/sbin/nats-server",
                             "-a", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(nats)
    await_port(port, "nats-server", nats)
    lines = bench("nats", lambda r, i: f"127.0.0.1:{port}")
    lines += bench("nats", lambda r, i: f"127.0.0.1:{port}", PACED["nats"])
    nats.kill()
    return lines


main()
