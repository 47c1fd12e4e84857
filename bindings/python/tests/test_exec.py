"""Conn.exec on a database connection (SQLite, in process): Dial's result
shape, every Python type bound and read back, typed errors, and the GIL
released while a statement runs."""
import datetime
import decimal
import threading
import time

import pytest

import wsdial


@pytest.fixture
def db():
    with wsdial.Dial("sqlite3://:memory:") as conn:
        yield conn


def test_result_has_dials_shape(db):
    assert db.exec("create table t (a integer, b text)")["columns"] == []
    r = db.exec("insert into t values (1, 'x'), (2, 'y')")
    assert r["affected"] == 2
    assert db.exec("select a, b from t order by a") == {
        "columns": ["a", "b"],
        "values": [[1, "x"], [2, "y"]],
    }


def test_every_python_type_binds_and_comes_back(db):
    db.exec("create table v (x)")
    values = [
        None,
        True,
        -(2**63),
        2**63 - 1,
        1.5,
        "it's \"quoted\"; DROP TABLE v; --",
        b"\x00\xff",
        bytearray(b"ab"),
    ]
    for v in values:
        db.exec("insert into v values (?)", [v])
    got = [row[0] for row in db.exec("select x from v order by rowid")["values"]]
    # SQLite has no bool type: True is stored as 1; bytearray comes back as bytes.
    assert got == [None, 1, -(2**63), 2**63 - 1, 1.5, values[5], b"\x00\xff", b"ab"]
    assert db.exec("select count(*) from v")["values"] == [[len(values)]]


def test_decimal_and_dates_bind_as_exact_text(db):
    d = decimal.Decimal("12345678901234567890.123456789")
    when = datetime.datetime(2026, 11, 30, 12, 34, 56, 789000)
    r = db.exec("select ?, ?, ?, ?", (d, when, when.date(), when.time()))
    assert r["values"] == [[str(d), when.isoformat(), "2026-11-30", "12:34:56.789000"]]


def test_param_errors_are_type_errors(db):
    with pytest.raises(TypeError, match=r"params\[0\]: cannot bind a object"):
        db.exec("select ?", [object()])
    with pytest.raises(TypeError, match="not a single str"):
        db.exec("select ?", "x")
    with pytest.raises(TypeError, match="does not fit in 64 bits"):
        db.exec("select ?", [2**64])


def test_errors_are_typed(db):
    with pytest.raises(wsdial.ExecError) as info:
        db.exec("selec 1")
    assert info.value.kind == "syntax" and "selec" in str(info.value)
    db.exec("create table u (k integer primary key)")
    db.exec("insert into u values (1)")
    with pytest.raises(wsdial.ExecError) as info:
        db.exec("insert into u values (1)")
    assert info.value.kind == "constraint"
    assert not isinstance(info.value, wsdial.DialError)


def test_read_and_write_are_refused_with_a_pointer_to_exec(db):
    with pytest.raises(Exception, match="exec"):
        db.read(-1)
    with pytest.raises(Exception, match="exec"):
        db.write("x")


def test_another_thread_runs_while_a_statement_does(db):
    # A statement that runs for a while (a recursive count) holds no GIL.
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set() and len(ticks) < 10_000:
            ticks.append(time.monotonic())
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    try:
        t0 = time.monotonic()
        db.exec(
            "with recursive c(i) as (select 1 union all select i + 1 from c where i < 3000000) "
            "select count(*) from c"
        )
        t1 = time.monotonic()
    finally:
        stop.set()
        t.join(10)
    during = [x for x in ticks if t0 <= x <= t1]
    assert t1 - t0 > 0.05, "the statement was too quick to tell"
    assert len(during) >= 3, f"{len(during)} ticks in {t1 - t0:.3f} s"


def test_a_handle_shares_the_session_across_threads_and_after_close():
    conn = wsdial.Dial("sqlite3://:memory:")
    conn.exec("create table t (n integer)")
    fd = conn.fd()
    assert isinstance(fd, int)
    conn.close()
    errors = []

    def insert(k):
        try:
            with wsdial.Dial(fd) as c:
                for i in range(50):
                    c.exec("insert into t values (?)", [k * 1000 + i])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=insert, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    with wsdial.Dial(fd) as c:
        assert c.exec("select count(*) from t")["values"] == [[200]]
    wsdial.release(fd)
    with pytest.raises(wsdial.DialError, match="names no open database session"):
        wsdial.Dial(fd)


def test_dial_refuses_what_is_neither_address_nor_handle():
    with pytest.raises(TypeError, match="address .* or a handle"):
        wsdial.Dial(1.5)
    with pytest.raises(ValueError, match="not a handle"):
        wsdial.Dial(-1)


def test_exec_many_inserts_every_row_in_order(db):
    db.exec("create table t (k integer, v text, d)")
    rows = [(k, f"row {k}", decimal.Decimal("1.5")) for k in range(500)]
    db.exec("begin")
    assert db.exec_many("insert into t values (?, ?, ?)", rows) == 500
    db.exec("commit")
    got = db.exec("select k, v, d from t order by rowid")["values"]
    assert got == [[k, v, "1.5"] for k, v, _ in rows]
    # Any iterable of rows; an empty one touches nothing (not even the SQL).
    assert db.exec_many("update t set v = 'x' where k = ?", ([k] for k in range(3))) == 3
    assert db.exec_many("insert into nowhere values (?)", []) == 0


def test_exec_many_names_the_failing_row(db):
    db.exec("create table u (k integer primary key)")
    with pytest.raises(wsdial.ExecError) as info:
        db.exec_many("insert into u values (?)", [[1], [2], [1], [3]])
    assert info.value.kind == "constraint"
    assert "parameter row 2 (0-based) failed" in str(info.value)
    assert db.exec("select k from u order by k")["values"] == [[1], [2]]


def test_exec_many_row_errors_are_type_errors(db):
    with pytest.raises(TypeError, match=r"rows\[1\]: params\[0\]: cannot bind a object"):
        db.exec_many("select ?", [[1], [object()]])
    with pytest.raises(TypeError, match=r"rows\[0\]: .*not a single str"):
        db.exec_many("select ?", ["x"])
    with pytest.raises(TypeError, match="not a single str"):
        db.exec_many("select ?", "x")
    with pytest.raises(TypeError, match="sequence of parameter rows"):
        db.exec_many("select ?", 5)
