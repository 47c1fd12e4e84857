"""PostgreSQL, MariaDB and ClickHouse rows of scripts/bench: wsdial against the
crate it uses, used directly (postgres, mysql, ureq on ClickHouse's HTTP
interface, klickhouse on its native protocol), and against Python's usual
client (psycopg 3 binary, pymysql, clickhouse-connect, clickhouse-driver), on
the same servers (started by `wsdial-sql-bench serve`
on 127.0.0.1), in one run, interleaved rounds, medians.
Usage: sql.py BENCH_BIN PYTHON OUT.md [--quick]

- SELECT: `SELECT *` of a 100,000-row table (5 columns), every row
  materialised; each run the fastest of 5 on one connection.
- INSERT: 100,000 parameterised INSERTs. PostgreSQL and MariaDB: one
  statement per row, transactions of 1,000 (wsdial: exec_with between BEGIN
  and COMMIT; the crates: a prepared statement; Python: executemany per
  transaction, which psycopg pipelines and pymysql rewrites into one
  multi-row INSERT). ClickHouse: 100 batch INSERTs of 1,000 rows (wsdial:
  one exec_with of 5,000 `?`; ureq: TabSeparated body; clickhouse-connect:
  client.insert). ClickHouse native protocol (`clickhouse://tcp://`): the
  same 100 batches (wsdial: the same exec_with; klickhouse:
  insert_native_block of typed rows; clickhouse-driver: execute with rows).
"""
import json
import os
import subprocess
import statistics
import sys

BIN, PY, OUT = sys.argv[1:4]
ROUNDS = 3 if "--quick" in sys.argv else 5
ROWS = 100_000
DBS = ["postgres", "mysql", "clickhouse", "clickhouse_native"]
PYNAME = {"postgres": "psycopg", "mysql": "pymysql", "clickhouse": "clickhouse-connect",
          "clickhouse_native": "clickhouse-driver"}
CRATE = {"postgres": "postgres", "mysql": "mysql", "clickhouse": "ureq", "clickhouse_native": "klickhouse"}
TITLE = {"postgres": "PostgreSQL", "mysql": "MariaDB", "clickhouse": "ClickHouse HTTP",
         "clickhouse_native": "ClickHouse native"}
# `BENCH_SQL=clickhouse,clickhouse_native` runs only those.
if os.environ.get("BENCH_SQL"):
    DBS = [d for d in DBS if d in os.environ["BENCH_SQL"].split(",")]


def rust(mode, db, client, port):
    out = subprocess.run([BIN, mode, db, client, str(port)], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"{BIN} {mode} {db} {client}: {out.stderr}")
    return float(out.stdout.strip())


def python(mode, db, port, pw):
    out = subprocess.run([PY, __file__.replace("sql.py", "sql_py.py"), mode, db, str(port), pw],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"sql_py.py {mode} {db}: {out.stderr}")
    return float(out.stdout.strip())


def main():
    server = subprocess.Popen([BIN, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ports = json.loads(server.stdout.readline())
        pw = ports["password"]
        # The native form reads the table the HTTP form's prepare wrote (one server).
        ports["clickhouse_native"] = ports["clickhouse_tcp"]
        for db in DBS:
            if db != "clickhouse_native":
                subprocess.run([BIN, "prepare", db, "-", str(ports[db])], check=True, timeout=900)
        if "clickhouse_native" in DBS and "clickhouse" not in DBS:
            subprocess.run([BIN, "prepare", "clickhouse", "-", str(ports["clickhouse"])], check=True, timeout=900)
        times = {(db, m): {c: [] for c in ("wsdial", "crate", "python")} for db in DBS for m in ("select", "insert")}
        readers = ["wsdial", "crate", "python"]
        for r in range(ROUNDS):
            # Each round starts with another reader, so none always follows
            # the same one (a server still merging or flushing what the one
            # before it wrote slows whoever comes next).
            order = readers[r % 3:] + readers[:r % 3]
            for db in DBS:
                for m in ("select", "insert"):
                    t = times[(db, m)]
                    for who in order:
                        if who == "python":
                            t[who].append(python(m, db, ports[db], pw))
                        else:
                            t[who].append(rust(m, db, who, ports[db]))
    finally:
        server.stdin.close()
        server.wait(timeout=120)
    lines = [
        "## PostgreSQL, MariaDB and ClickHouse (100,000 rows, 127.0.0.1)",
        "",
        f"One run, {ROUNDS} interleaved rounds (each starting with another reader), median; rows per second (higher is better). "
        "Ratios: wsdial's rate over the other's (target against the crate used directly: at least 0.9). "
        "PostgreSQL 15, Debian's MariaDB and ClickHouse 18.16, each started for this run.",
        "",
        "| database | statement | wsdial rows/s | crate | crate rows/s | python client | python rows/s | wsdial / crate | wsdial / python |",
        "|---|---|---:|---|---:|---|---:|---:|---:|",
    ]
    names = {"select": "SELECT * (materialised)",
             "insert": "INSERT, bound, 1,000 per transaction"}
    for db in DBS:
        for m in ("select", "insert"):
            rate = {c: ROWS / statistics.median(v) for c, v in times[(db, m)].items()}
            name = "INSERT, bound, 100 batches of 1,000 rows" if db.startswith("clickhouse") and m == "insert" else names[m]
            lines.append(
                f"| {TITLE[db]} | {name} | {rate['wsdial']:,.0f} | {CRATE[db]} | {rate['crate']:,.0f} "
                f"| {PYNAME[db]} | {rate['python']:,.0f} "
                f"| {rate['wsdial'] / rate['crate']:.2f} | {rate['wsdial'] / rate['python']:.2f} |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    with open(OUT, "w") as f:
        f.write(text)


main()
