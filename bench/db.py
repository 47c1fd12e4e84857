"""SQLite rows of scripts/bench: wsdial against rusqlite used directly (the
same crate, same bundled SQLite) and against Python's sqlite3 module, in one
run, interleaved rounds (each client in a fresh process, the order turned
round every round), medians of wall-clock and of CPU time. Usage: db.py
BENCH_BIN OUT.md [--quick]

The INSERT rows wait for the disk: each COMMIT fsyncs (SQLite's defaults,
the same on all sides), which on a shared machine varies from run to run far
more than the statements' own work; the CPU columns (user + system time of
the process) leave that wait out.

- SELECT: `SELECT *` of a 100,000-row table (5 columns), every row
  materialised (wsdial: Rows of Values; rusqlite: Vec of owned Values;
  Python: fetchall()); each run the fastest of 5 on one connection, after a
  warm-up run.
- INSERT: 100,000 parameterised INSERTs in transactions of 1,000 (wsdial:
  one exec_many per transaction between BEGIN and COMMIT, and, in a second
  row, exec_with per row; rusqlite: a cached prepared statement in a
  Transaction; Python: executemany per batch in `with con`).
"""
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

BIN, OUT = sys.argv[1:3]
ROUNDS = 3 if "--quick" in sys.argv else 9
ROWS, BATCH = 100_000, 1_000


def rust(mode, client, db):
    """(wall, cpu) seconds of one run, in a fresh process."""
    out = subprocess.run([BIN, mode, client, db], capture_output=True, text=True, timeout=600, check=True)
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


def py_select(db):
    con = sqlite3.connect(db)
    con.execute("SELECT * FROM t").fetchall()
    best, best_cpu = float("inf"), float("inf")
    for _ in range(5):
        t, c = time.perf_counter(), time.process_time()
        rows = con.execute("SELECT * FROM t").fetchall()
        best, best_cpu = min(best, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
        assert len(rows) == ROWS
    con.close()
    return best, best_cpu


def py_insert(db):
    con = sqlite3.connect(db)
    con.executescript("DROP TABLE IF EXISTS ins; CREATE TABLE ins (id INTEGER, sym TEXT, price REAL, qty REAL, ts INTEGER)")
    t, c = time.perf_counter(), time.process_time()
    for b in range(ROWS // BATCH):
        rows = [(i, "BTCUSDT", 97000.0 + i * 0.01, 0.001, 1764000000000 + i) for i in range(b * BATCH, (b + 1) * BATCH)]
        with con:
            con.executemany("INSERT INTO ins VALUES (?, ?, ?, ?, ?)", rows)
    secs, cpu = time.perf_counter() - t, time.process_time() - c
    con.close()
    return secs, cpu


def main():
    with tempfile.TemporaryDirectory(prefix="wsdial-db-bench-") as d:
        db = os.path.join(d, "bench.db")
        subprocess.run([BIN, "prepare", "-", db], check=True, timeout=600)
        clients = {
            "select": {"wsdial": lambda: rust("select", "wsdial", db),
                       "rusqlite": lambda: rust("select", "rusqlite", db),
                       "python sqlite3": lambda: py_select(db)},
            "insert": {"wsdial": lambda: rust("insert", "wsdial", db),
                       "wsdial per row": lambda: rust("insert", "wsdial-per-row", db),
                       "rusqlite": lambda: rust("insert", "rusqlite", db),
                       "rusqlite per row": lambda: rust("insert", "rusqlite-per-row", db),
                       "python sqlite3": lambda: py_insert(db)},
        }
        times = {m: {c: [] for c in cs} for m, cs in clients.items()}
        for r in range(ROUNDS):
            for m, cs in clients.items():
                # The order turned round every round: neither goes always first.
                order = list(cs.items())
                for c, f in order if r % 2 == 0 else reversed(order):
                    times[m][c].append(f())
    lines = [
        "## SQLite (100,000 rows)",
        "",
        f"One run, {ROUNDS} interleaved rounds (each client a fresh process, the order turned round every round), "
        "median; rows per second (higher is better), by wall-clock and by the process's CPU time. "
        "Ratios: wsdial's rate over the other's (target against rusqlite: at least 0.9). "
        "The INSERT's wall-clock includes waiting for the disk at each COMMIT (fsync), which varies from run to run "
        "on a shared machine; its CPU columns leave that out. "
        f"SQLite {sqlite3.sqlite_version} for Python; rusqlite's bundled SQLite for wsdial and rusqlite.",
        "",
        "| statement | wsdial rows/s | rusqlite rows/s | python sqlite3 rows/s | wsdial / rusqlite | wsdial / python "
        "| wsdial / rusqlite, CPU | wsdial / python, CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = {("select", "wsdial"): "SELECT * (materialised)",
             ("insert", "wsdial"): "INSERT, bound, 1,000 per transaction: `exec_many` per transaction",
             ("insert", "wsdial per row"): "INSERT, bound, 1,000 per transaction: `exec_with` per row"}
    for (m, ours), name in names.items():
        rate = {c: ROWS / statistics.median(w for w, _ in v) for c, v in times[m].items()}
        cpu = {c: ROWS / statistics.median(c for _, c in v) for c, v in times[m].items()}
        lines.append(
            f"| {name} | {rate[ours]:,.0f} | {rate['rusqlite']:,.0f} | {rate['python sqlite3']:,.0f} "
            f"| {rate[ours] / rate['rusqlite']:.2f} | {rate[ours] / rate['python sqlite3']:.2f} "
            f"| {cpu[ours] / cpu['rusqlite']:.2f} | {cpu[ours] / cpu['python sqlite3']:.2f} |"
        )
    w = {c: ROWS / statistics.median(x for x, _ in v) for c, v in times["insert"].items()}
    c = {k: ROWS / statistics.median(x for _, x in v) for k, v in times["insert"].items()}
    lines += [
        "",
        "rusqlite above prepares the INSERT once per transaction and runs it 1,000 times, as wsdial's "
        "`exec_many(sql, &rows)` does; wsdial's `exec_with(sql, …)` per row takes the statement from "
        "rusqlite's statement cache for each row (a rusqlite `Statement` borrows its connection and is not "
        "`Send`, so wsdial keeps none between calls). "
        f"Against rusqlite doing the same per row (`prepare_cached(sql)?.execute(…)`, {w['rusqlite per row']:,.0f} rows/s): "
        f"wsdial's `exec_with` per row {w['wsdial per row'] / w['rusqlite per row']:.2f} by wall-clock, "
        f"{c['wsdial per row'] / c['rusqlite per row']:.2f} by CPU.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    with open(OUT, "w") as f:
        f.write(text)


main()
