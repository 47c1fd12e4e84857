"""SQLite rows of scripts/bench: wsdial against rusqlite used directly (the
same crate, same bundled SQLite) and against Python's sqlite3 module, in one
run, interleaved rounds, medians. Usage: db.py BENCH_BIN OUT.md

- SELECT: `SELECT *` of a 100,000-row table (5 columns), every row
  materialised (wsdial: Rows of Values; rusqlite: Vec of owned Values;
  Python: fetchall()); each run the fastest of 5 on one connection.
- INSERT: 100,000 parameterised INSERTs in transactions of 1,000 (wsdial:
  exec_with per row between BEGIN and COMMIT; rusqlite: a cached prepared
  statement in a Transaction; Python: executemany per batch in `with con`).
"""
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

BIN, OUT = sys.argv[1:3]
ROUNDS = 3 if "--quick" in sys.argv else 7
ROWS, BATCH = 100_000, 1_000


def rust(mode, client, db):
    out = subprocess.run([BIN, mode, client, db], capture_output=True, text=True, timeout=600, check=True)
    return float(out.stdout.strip())


def py_select(db):
    con = sqlite3.connect(db)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        rows = con.execute("SELECT * FROM t").fetchall()
        best = min(best, time.perf_counter() - t)
        assert len(rows) == ROWS
    con.close()
    return best


def py_insert(db):
    con = sqlite3.connect(db)
    con.executescript("DROP TABLE IF EXISTS ins; CREATE TABLE ins (id INTEGER, sym TEXT, price REAL, qty REAL, ts INTEGER)")
    t = time.perf_counter()
    for b in range(ROWS // BATCH):
        rows = [(i, "BTCUSDT", 97000.0 + i * 0.01, 0.001, 1764000000000 + i) for i in range(b * BATCH, (b + 1) * BATCH)]
        with con:
            con.executemany("INSERT INTO ins VALUES (?, ?, ?, ?, ?)", rows)
    secs = time.perf_counter() - t
    con.close()
    return secs


def main():
    with tempfile.TemporaryDirectory(prefix="wsdial-db-bench-") as d:
        db = os.path.join(d, "bench.db")
        subprocess.run([BIN, "prepare", "-", db], check=True, timeout=600)
        clients = {
            "select": {"wsdial": lambda: rust("select", "wsdial", db),
                       "rusqlite": lambda: rust("select", "rusqlite", db),
                       "python sqlite3": lambda: py_select(db)},
            "insert": {"wsdial": lambda: rust("insert", "wsdial", db),
                       "rusqlite": lambda: rust("insert", "rusqlite", db),
                       "python sqlite3": lambda: py_insert(db)},
        }
        times = {m: {c: [] for c in cs} for m, cs in clients.items()}
        for _ in range(ROUNDS):
            for m, cs in clients.items():
                for c, f in cs.items():
                    times[m][c].append(f())
    lines = [
        "## SQLite (100,000 rows)",
        "",
        f"One run, {ROUNDS} interleaved rounds, median; rows per second (higher is better). "
        "Ratios: wsdial's rate over the other's (target against rusqlite: at least 0.9). "
        f"SQLite {sqlite3.sqlite_version} for Python; rusqlite's bundled SQLite for wsdial and rusqlite.",
        "",
        "| statement | wsdial rows/s | rusqlite rows/s | python sqlite3 rows/s | wsdial / rusqlite | wsdial / python |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    names = {"select": "SELECT * (materialised)", "insert": "INSERT, bound, 1,000 per transaction"}
    for m in clients:
        rate = {c: ROWS / statistics.median(v) for c, v in times[m].items()}
        lines.append(
            f"| {names[m]} | {rate['wsdial']:,.0f} | {rate['rusqlite']:,.0f} | {rate['python sqlite3']:,.0f} "
            f"| {rate['wsdial'] / rate['rusqlite']:.2f} | {rate['wsdial'] / rate['python sqlite3']:.2f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    with open(OUT, "w") as f:
        f.write(text)


main()
