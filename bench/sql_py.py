"""Python's usual clients for bench/sql.py (run with the venv's Python):
`sql_py.py select|insert postgres|mysql|clickhouse|clickhouse_native PORT PASSWORD`
prints the
seconds one run took (select: the fastest of 5 on one connection)."""
import sys
import time

MODE, DB, PORT, PW = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ROWS, BATCH = 100_000, 1_000


def rows(b):
    return [(i, "BTCUSDT", 97000.0 + i * 0.01, 0.001 * (i % 7), 1764000000000 + i)
            for i in range(b * BATCH, (b + 1) * BATCH)]


def fastest(f):
    return min(f() for _ in range(5))


def timed_fetch(cur_fn):
    t = time.perf_counter()
    out = cur_fn()
    secs = time.perf_counter() - t
    assert len(out) == ROWS
    return secs


if DB == "postgres":
    import psycopg
    con = psycopg.connect(host="127.0.0.1", port=PORT, user="postgres", password=PW, dbname="postgres", sslmode="disable")
    if MODE == "select":
        secs = fastest(lambda: timed_fetch(lambda: con.execute("SELECT * FROM t").fetchall()))
    else:
        con.execute("DROP TABLE IF EXISTS ins")
        con.execute("CREATE TABLE ins (id BIGINT, sym TEXT, price DOUBLE PRECISION, qty DOUBLE PRECISION, ts BIGINT)")
        con.commit()
        t = time.perf_counter()
        for b in range(ROWS // BATCH):
            with con.transaction():
                con.cursor().executemany("INSERT INTO ins VALUES (%s, %s, %s, %s, %s)", rows(b))
        secs = time.perf_counter() - t
elif DB == "mysql":
    import pymysql
    con = pymysql.connect(host="127.0.0.1", port=PORT, user="wsdial", password=PW, database="t")
    if MODE == "select":
        def once():
            with con.cursor() as cur:
                cur.execute("SELECT * FROM t")
                return cur.fetchall()
        secs = fastest(lambda: timed_fetch(once))
    else:
        with con.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS ins")
            cur.execute("CREATE TABLE ins (id BIGINT, sym TEXT, price DOUBLE, qty DOUBLE, ts BIGINT)")
        t = time.perf_counter()
        for b in range(ROWS // BATCH):
            with con.cursor() as cur:
                cur.execute("BEGIN")
                cur.executemany("INSERT INTO ins VALUES (%s, %s, %s, %s, %s)", rows(b))
            con.commit()
        secs = time.perf_counter() - t
elif DB == "clickhouse_native":
    # ClickHouse's native protocol (PORT its TCP port): clickhouse-driver.
    from clickhouse_driver import Client
    client = Client(host="127.0.0.1", port=PORT, user="default", password=PW)
    if MODE == "select":
        secs = fastest(lambda: timed_fetch(lambda: client.execute("SELECT * FROM t")))
    else:
        client.execute("DROP TABLE IF EXISTS ins")
        client.execute("CREATE TABLE ins (id Int64, sym String, price Float64, qty Float64, ts Int64) ENGINE = MergeTree ORDER BY id")
        t = time.perf_counter()
        for b in range(ROWS // BATCH):
            client.execute("INSERT INTO ins VALUES", rows(b))
        secs = time.perf_counter() - t
else:
    import clickhouse_connect
    # No compression: ClickHouse 18 does not read lz4-encoded HTTP requests.
    client = clickhouse_connect.get_client(host="127.0.0.1", port=PORT, username="default", password=PW, compress=False)
    if MODE == "select":
        secs = fastest(lambda: timed_fetch(lambda: client.query("SELECT * FROM t").result_rows))
    else:
        client.command("DROP TABLE IF EXISTS ins")
        client.command("CREATE TABLE ins (id Int64, sym String, price Float64, qty Float64, ts Int64) ENGINE = MergeTree ORDER BY id")
        t = time.perf_counter()
        for b in range(ROWS // BATCH):
            # Column types given: clickhouse-connect cannot read ClickHouse 18's DESCRIBE.
            client.insert("ins", rows(b), column_names=["id", "sym", "price", "qty", "ts"],
                          column_type_names=["Int64", "String", "Float64", "Float64", "Int64"])
        secs = time.perf_counter() - t
print(f"{secs:.6f}")
