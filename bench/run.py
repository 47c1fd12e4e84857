"""The benchmark driver (run by scripts/bench): every client against the same
loopback load source in one run, each as its own process so its CPU time is
measured exactly (rusage of the child). Writes a Markdown report.

usage: run.py BENCH_BIN PYTHON WEBSOCAT OUT.md [--quick] [--against OLD_BIN OLD_REV]

With --against, it runs only the comparison: wsdial's modes from BENCH_BIN (this
tree) and OLD_BIN (the library as of OLD_REV) interleaved in the same rounds,
against BENCH_BIN's load source, and reports new/old with each round's spread.
"""
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

BENCH, PY, WEBSOCAT, OUT = sys.argv[1:5]
QUICK = "--quick" in sys.argv
OLD, OLD_REV = sys.argv[sys.argv.index("--against") + 1:][:2] if "--against" in sys.argv else (None, None)
HERE = os.path.dirname(os.path.abspath(__file__))
# Rounds for the Rust clients. Each round runs every client once, in turn, so a
# burst of noise from this shared machine lands on all of them alike; the table
# shows the median round.
REPEAT = 1 if QUICK else 5


def run(cmd, timeout=600, stdin=None):
    """Runs cmd; returns (parsed JSON of its last stdout line or None, cpu seconds, wall seconds, stdout)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    out_chunks = []
    # read stdout while waiting (websocat prints every message)
    while True:
        chunk = p.stdout.read(1 << 16)
        if not chunk:
            break
        out_chunks.append(chunk)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    out = b"".join(out_chunks)
    if status != 0:
        raise RuntimeError(f"{cmd} exited with {status}")
    cpu = ru.ru_utime + ru.ru_stime
    last = out.strip().splitlines()[-1] if out.strip() else b""
    try:
        data = json.loads(last)
    except ValueError:
        data = None
    return data, cpu, wall, out


def start_server():
    p = subprocess.Popen([BENCH, "server"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    port = int(p.stdout.readline())
    return p, f"ws://127.0.0.1:{port}"


def version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
    except Exception as e:  # noqa: BLE001
        return f"unavailable ({e})"


def median_by(runs, key):
    """The run with the median value of key (the lower middle for an even count)."""
    ordered = sorted(runs, key=key)
    return ordered[(len(ordered) - 1) // 2]


def rounds(modes, url_of, n=None):
    """Runs every mode once per round, REPEAT rounds, interleaved; mode -> runs.
    A mode is a name, run by BENCH, or a (binary, name) pair."""
    out = {m: [] for m in modes}
    for _ in range(REPEAT):
        for m in modes:
            binary, name = m if isinstance(m, tuple) else (BENCH, m)
            out[m].append(run([binary, "client", name, url_of(name)] + ([str(n)] if n else [])))
    return out


# Throughput cases: name, message size, gzip, messages for the Rust clients, for the others.
CASES = [
    ("200 B text", 200, 0, 1_000_000, 100_000),
    ("2 KB text", 2000, 0, 300_000, 50_000),
    ("2 KB JSON, gzip binary frames", 2000, 1, 200_000, 30_000),
]
if QUICK:
    CASES = [(n, s, g, r // 5, p // 5) for n, s, g, r, p in CASES]


def header(say, title):
    say(f"# {title}\n")
    say("Produced by `scripts/bench` (this file is its output; do not edit by hand).\n")
    say(f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    say(f"- machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}")
    say(f"- rustc: {version(['rustc', '--version'])}")


def write(lines):
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    server, base = start_server()
    lines = []
    say = lines.append
    header(say, "wsdial benchmarks")
    say(f"- python: {platform.python_version()}; websocket-client {version([PY, '-c', 'import websocket; print(websocket.__version__)'])}; websockets {version([PY, '-c', 'import websockets; print(websockets.__version__)'])}")
    say(f"- websocat: {version([WEBSOCAT, '--version']) if WEBSOCAT != '-' else 'not installed'}")
    say(f"- mode: {'quick' if QUICK else 'full'} ({REPEAT} interleaved rounds for the Rust clients; "
        "the median round is shown)\n")
    say("The load source (`bench/src/main.rs`) writes pre-encoded frames in 256 KiB chunks, so it is")
    say("never the bottleneck; every client runs as its own process on the same 2-core machine as the")
    say("source. Throughput counts from the first message to the last; CPU is the client process's")
    say("user+system time for the whole run (connect included).\n")

    # --- throughput -----------------------------------------------------------
    say("## Throughput\n")
    say("| case | client | messages/s | × baseline | CPU s per 1M messages |")
    say("|---|---|---:|---:|---:|")
    summary = {}
    for name, size, gz, n_rust, n_py in CASES:
        rows = []

        rust_modes = [
            ("baseline: tungstenite read loop" + (" + flate2 GzDecoder" if gz else ""), "baseline"),
            ("wsdial `read()`", "read"),
            ("wsdial `try_read()` polling", "try"),
            ("wsdial `read_latest()` polling", "latest"),
        ]
        url = f"{base}/blast?size={size}&count={n_rust}&gzip={gz}"
        by_mode = rounds([m for _, m in rust_modes], lambda _m: url, n_rust)

        def rust(label, mode):
            count = "received" if mode == "latest" else "messages"
            data, cpu, _, _ = median_by(by_mode[mode], lambda r: r[0][count] / max(r[0]["secs"], 1e-9))
            rows.append((label, data["messages"] / data["secs"], cpu / data["messages"] * 1e6, data))

        def py(label, kind, n):
            url = f"{base}/blast?size={size}&count={n}&gzip={gz}"
            data, cpu, _, _ = run([PY, os.path.join(HERE, "py_clients.py"), kind, url, str(n)])
            rows.append((label, data["messages"] / data["secs"], cpu / data["messages"] * 1e6, data))

        for label, mode in rust_modes:
            rust(label, mode)
        py("Python websocket-client `WebSocket`", "wsclient", n_py)
        py("Python websocket-client `WebSocketApp`", "wsapp", n_py)
        py("Python websockets (threading client)", "websockets", n_py)
        # The Python package reads as many messages as the Rust clients: a
        # Python client's count would be over in a few tens of milliseconds.
        py("wsdial Python package `conn.read()`", "wsdial", n_rust)
        if WEBSOCAT != "-" and not gz:
            url = f"{base}/blast?size={size}&count={n_py}&gzip=0"
            _, cpu, wall, out = run([WEBSOCAT, "-t", "--max-messages-rev", str(n_py), url])
            got = out.count(b"\n")
            rows.append(("websocat (to a pipe)", got / wall, cpu / max(got, 1) * 1e6, {"messages": got}))
        base_rate = rows[0][1]
        for label, rate, cpu_m, data in rows:
            extra = ""
            if data.get("dropped"):
                extra = f" ({data['dropped']:,} dropped: it fell behind)"
            if label.startswith("wsdial `read_latest"):
                # the rate at which the stream was consumed; most messages were discarded
                rate = data["received"] / data["secs"]
                cpu_m = cpu_m * data["messages"] / data["received"]
                extra = f" ({data['messages']:,} reads took the newest of {data['received']:,})"
            say(f"| {name} | {label}{extra} | {rate:,.0f} | {rate / base_rate:.2f} | {cpu_m:.2f} |")
        py_best = max(r for l, r, _, _ in rows if l.startswith("Python"))
        binding = next(r for l, r, _, _ in rows if l.startswith("wsdial Python"))
        summary[name] = (rows[1][1] / base_rate, rows[1][1] / py_best, binding / py_best)
    say("")

    # --- permessage-deflate --------------------------------------------------
    say("## permessage-deflate: a 2 KB JSON order-book feed\n")
    say("256 different order books of about 2 KB (numbers that vary, as a depth feed's do), in a")
    say("cycle, sent compressed with permessage-deflate (context takeover, as exchanges do) and")
    say("uncompressed. \"+ CPU\" is the extension's cost: CPU per 1M messages over the same")
    say("client reading the uncompressed feed.\n")
    say("| client | feed | messages/s | CPU s per 1M messages | + CPU s per 1M |")
    say("|---|---|---:|---:|---:|")
    n_rust, n_py = (40_000, 10_000) if QUICK else (200_000, 30_000)
    pmd_url = f"{base}/blast?size=2000&book=1&pmd=1&count={n_rust}"
    plain_url = f"{base}/blast?size=2000&book=1&count={n_rust}"
    # read and try_read on the compressed feed, read on the plain one, interleaved in rounds
    jobs = {"read": pmd_url, "try": pmd_url, "plain": plain_url}
    by = {k: [] for k in jobs}
    for _ in range(REPEAT):
        for k, url in jobs.items():
            by[k].append(run([BENCH, "client", "try" if k == "try" else "read", url, str(n_rust)]))

    def med(k):
        data, cpu, _, _ = median_by(by[k], lambda r: r[0]["messages"] / max(r[0]["secs"], 1e-9))
        return data["messages"] / data["secs"], cpu / data["messages"] * 1e6
    plain_rate, plain_cpu = med("plain")
    pmd_rows = [("wsdial `read()`", "compressed", *med("read")), ("wsdial `try_read()` polling", "compressed", *med("try"))]
    data, cpu, _, _ = run([PY, os.path.join(HERE, "py_clients.py"), "websockets", f"{base}/blast?size=2000&book=1&pmd=1&count={n_py}", str(n_py)])
    py_rate, py_cpu = data["messages"] / data["secs"], cpu / data["messages"] * 1e6
    for label, feed, rate, cpu_m in pmd_rows:
        say(f"| {label} | {feed} | {rate:,.0f} | {cpu_m:.2f} | {cpu_m - plain_cpu:+.2f} |")
    say(f"| wsdial `read()` | uncompressed | {plain_rate:,.0f} | {plain_cpu:.2f} | |")
    say(f"| Python websockets (threading client) | compressed | {py_rate:,.0f} | {py_cpu:.2f} | |")
    say("")
    pmd_summary = (pmd_rows[0][2] / py_rate, pmd_rows[0][3] - plain_cpu)

    # --- latency at a fixed rate ---------------------------------------------
    say("## Latency at 10,000 messages/s (server send timestamp to `read()` returning)\n")
    say("| client | p50 µs | p99 µs | p99.9 µs |")
    say("|---|---:|---:|---:|")
    count = 20_000 if QUICK else 50_000
    lat = {}
    modes = [("baseline: tungstenite read loop", "latency-baseline"), ("wsdial `read()`", "latency-wsdial")]
    by_mode = rounds([m for _, m in modes], lambda _m: f"{base}/rate?size=200&rate=10000&count={count}")
    for label, mode in modes:
        # Each percentile is the median over the rounds.
        d = {k: median_by([r[0] for r in by_mode[mode]], lambda x: x[k])[k] for k in ("p50_us", "p99_us", "p999_us")}
        lat[mode] = d
        spread = ", ".join(str(r[0]["p99_us"]) for r in by_mode[mode])
        say(f"| {label} | {d['p50_us']} | {d['p99_us']} (rounds: {spread}) | {d['p999_us']} |")
    say("")

    # --- write round trip on an idle connection ------------------------------
    say("## Write round trip on an idle connection (echo, one write per ms)\n")
    say("| client | p50 µs | p99 µs |")
    say("|---|---:|---:|")
    n = "1000" if QUICK else "3000"
    rtt = {}
    modes = [("baseline: tungstenite send + read", "rtt-baseline"), ("wsdial `write()` + `read()`", "rtt-wsdial")]
    by_mode = rounds([m for _, m in modes], lambda _m: f"{base}/echo", int(n))
    for label, mode in modes:
        d = {k: median_by([r[0] for r in by_mode[mode]], lambda x: x[k])[k] for k in ("p50_us", "p99_us")}
        rtt[mode] = d
        say(f"| {label} | {d['p50_us']} | {d['p99_us']} |")
    say("")

    # --- idle cost -------------------------------------------------------------
    secs = "5" if QUICK else "30"
    say(f"## Idle connection, default keepalive (a Ping every 20 s), {secs} s\n")
    say("| client | wake-ups of the library's threads (voluntary context switches) | CPU ticks of the process (1/100 s) |")
    say("|---|---:|---:|")
    with ThreadPoolExecutor(2) as ex:
        futs = {m: ex.submit(run, [BENCH, "client", m, f"{base}/idle", secs]) for m in ("idle-baseline", "idle-wsdial")}
        idle = {m: f.result()[0] for m, f in futs.items()}
    say(f"| baseline: blocking read | {idle['idle-baseline']['wakeups']} | {idle['idle-baseline']['cpu_ticks']} |")
    say(f"| wsdial | {idle['idle-wsdial']['wakeups']} | {idle['idle-wsdial']['cpu_ticks']} |")
    say("")

    # --- memory ------------------------------------------------------------------
    say("## Memory\n")
    qbytes = 16 << 20
    flood = 100_000 if QUICK else 400_000
    d = run([BENCH, "client", "stall", f"{base}/blast?size=2000&count={flood}", "20", str(qbytes)])[0]
    over = d["hwm_kb"] * 1024 - qbytes
    say(f"- stalled reader under a flood of {flood:,} × 2 KB: peak RSS {d['hwm_kb'] / 1024:.1f} MiB "
        f"with `qbytes` = {qbytes >> 20} MiB, i.e. qbytes + {over / 2**20:.1f} MiB; "
        f"{d['received']:,} received, {d['dropped']:,} dropped (oldest first), {d['queued_bytes'] / 2**20:.1f} MiB buffered.")
    k = 200 if QUICK else 1000
    m = run([BENCH, "client", "many", f"{base}/idle", str(k)], timeout=300)[0]
    say(f"- {k} idle connections in one process: {m['per_conn_kb']:.0f} KiB resident each "
        f"({m['rss_before_kb'] / 1024:.1f} → {m['rss_after_kb'] / 1024:.1f} MiB).")
    say("")

    # --- reconnect gap -------------------------------------------------------------
    say("## Reconnect gap (server drops the connection → first message of the new one read)\n")
    say("| interval | drops | p50 ms | max ms |")
    say("|---:|---:|---:|---:|")
    for interval, drops in [(0, 20 if not QUICK else 5), (1000, 3 if not QUICK else 2)]:
        d = run([BENCH, "client", "reconnect", f"{base}/drop?after=20&rate=2000", str(drops), str(interval)])[0]
        say(f"| {interval} ms | {drops} | {d['p50_us'] / 1000:.2f} | {d['p999_us'] / 1000:.2f} |")
    say("")

    # --- targets -------------------------------------------------------------------
    say("## Against the targets\n")
    for name, (vs_base, vs_py, binding_vs_py) in summary.items():
        say(f"- {name}: wsdial `read()` = {vs_base:.2f} × baseline (target ≥ 0.95), {vs_py:.1f} × the fastest Python client (target ≥ 20)")
        say(f"- {name}: the Python package = {binding_vs_py:.1f} × the fastest pure-Python client (target ≥ 50 on 200 B)")
    say(f"- 2 KB JSON with permessage-deflate: wsdial `read()` = {pmd_summary[0]:.1f} × the Python websockets "
        f"threading client (target ≥ 20); the extension costs {pmd_summary[1]:.2f} CPU s per 1M messages")
    say(f"- latency p99: wsdial {lat['latency-wsdial']['p99_us']} µs vs baseline {lat['latency-baseline']['p99_us']} µs "
        f"(target ≤ baseline + 50 µs)")
    say(f"- idle write round trip p99: {rtt['rtt-wsdial']['p99_us'] / max(rtt['rtt-baseline']['p99_us'], 1):.2f} × baseline (target ≤ 1.2)")
    say(f"- idle wake-ups: {idle['idle-wsdial']['wakeups']} (target: one per 20 s keepalive period, {int(secs) // 20} in {secs} s)")
    say(f"- stalled reader: qbytes + {over / 2**20:.1f} MiB (target ≤ qbytes + 16 MiB); "
        f"{m['per_conn_kb']:.0f} KiB per connection (target < 150 KiB)")
    server.kill()
    write(lines)


def compare():
    """New (BENCH) against old (OLD): wsdial's modes of both, interleaved in the same rounds."""
    server, base = start_server()
    lines = []
    say = lines.append
    header(say, f"wsdial against {OLD_REV}")
    say(f"- new: this tree ({version(['git', '-C', HERE, 'describe', '--always', '--dirty'])}); old: {OLD_REV}")
    say(f"- load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    say(f"- mode: {'quick' if QUICK else 'full'} ({REPEAT} rounds, each running new and old in turn; "
        "both use the new build's load source)\n")
    say("Each cell is the median round (min..max of the rounds). \"per round\" is new/old within each")
    say("round, min..max: a ratio outside old's own min..max is a change, not noise.\n")
    say("| case | new | old | new/old | new/old per round |")
    say("|---|---:|---:|---:|---:|")

    def med(v):
        return median_by(v, float)

    def row(name, new, old, fmt="{:,.0f}"):
        cell = lambda v: f"{fmt.format(med(v))} ({fmt.format(min(v))}..{fmt.format(max(v))})"
        # A count that is mostly 0 (wake-ups) has no ratio.
        per = [a / b for a, b in zip(new, old)] if min(old) else []
        ratio = f"{med(new) / med(old):.2f}" if per else "–"
        spread = f"{min(per):.2f}..{max(per):.2f}" if per else "–"
        say(f"| {name} | {cell(new)} | {cell(old)} | {ratio} | {spread} |")

    both = lambda mode: [(BENCH, mode), (OLD, mode)]
    for name, size, gz, n, _ in CASES:
        modes = [("read", "messages"), ("try", "messages"), ("latest", "received")]
        by = rounds([m for mode, _ in modes for m in both(mode)], lambda _m: f"{base}/blast?size={size}&count={n}&gzip={gz}", n)
        for mode, count in modes:
            new, old = ([r[0][count] / max(r[0]["secs"], 1e-9) for r in by[m]] for m in both(mode))
            row(f"{name}, `{mode}`, messages/s", new, old)

    n = 1000 if QUICK else 3000
    by = rounds(both("rtt-wsdial"), lambda _m: f"{base}/echo", n)
    for k in ("p50_us", "p99_us"):
        row(f"idle write round trip {k[:3]} µs", *([r[0][k] for r in by[m]] for m in both("rtt-wsdial")))

    # Idle runs wait, so all of them run side by side, as in the main report.
    secs = "5" if QUICK else "30"
    with ThreadPoolExecutor(2 * REPEAT) as ex:
        futs = {m: [ex.submit(run, [m[0], "client", m[1], f"{base}/idle", secs]) for _ in range(REPEAT)]
                for m in both("idle-wsdial")}
        idle = {m: [f.result()[0] for f in fs] for m, fs in futs.items()}
    for k in ("wakeups", "cpu_ticks"):
        row(f"idle {secs} s: {k}", *([d[k] for d in idle[m]] for m in both("idle-wsdial")))
    say(f"\n- load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    server.kill()
    write(lines)


if OLD:
    compare()
else:
    main()
