"""Dial's read semantics, row by row of its table, in Python:

| buffer state | read() | read(ms) | read(-1) | read(-2) |
|---|---|---|---|---|
| has messages | oldest | oldest | oldest | newest; older ones discarded |
| empty | blocks until a message | waits up to ms, else None | None at once | None at once |
| connection lost | "" | "" | "" | "" |
"""
import json
import threading
import time

import pytest

import wsdial
from conftest import eventually, thread_state


def echo(sim):
    return wsdial.Dial(f"{sim}/echo")


def buffered(conn, n):
    """Waits until `n` messages sit in the buffer (the background thread read them)."""
    eventually(lambda: conn.stats()["queued"] == n, what=f"{n} buffered messages")


# --- has messages -----------------------------------------------------------------


@pytest.mark.parametrize("timeout", [None, 0, 1000, -1])
def test_with_messages_every_mode_but_latest_returns_the_oldest(sim, timeout):
    with echo(sim) as c:
        for m in ("a", "b", "c"):
            assert c.write(m) == 1
        buffered(c, 3)
        assert [c.read(timeout) for _ in range(3)] == ["a", "b", "c"]


def test_with_messages_read_latest_returns_the_newest_and_discards_the_rest(sim):
    with echo(sim) as c:
        for m in ("a", "b", "c"):
            c.write(m)
        buffered(c, 3)
        assert c.read(-2) == "c"
        assert c.stats()["discarded"] == 2
        assert c.read(-1) is None, "the older messages are gone"


def test_below_minus_two_is_minus_two(sim):
    with echo(sim) as c:
        c.write("a")
        c.write("b")
        buffered(c, 2)
        assert c.read(-7) == "b"


# --- empty ------------------------------------------------------------------------


def blocked_reader(conn, timeout=None):
    """A thread blocked in conn.read(timeout); returns (thread, result dict)."""
    out = {}

    def run():
        out["tid"] = threading.get_native_id()
        out["value"] = conn.read(timeout)
        out["at"] = time.monotonic()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    eventually(lambda: "tid" in out)
    # Asleep in the read (not merely started): the thread is waiting.
    eventually(lambda: "value" in out or thread_state(out["tid"]) == "S", what="the reader to wait")
    return t, out


def test_empty_read_blocks_until_a_message(sim):
    with echo(sim) as c:
        t, out = blocked_reader(c)
        assert "value" not in out, "read() returned with nothing to read"
        c.write("late")
        t.join(10)
        assert out["value"] == "late"


def test_empty_read_ms_returns_a_message_that_arrives_in_time(sim):
    with echo(sim) as c:
        t, out = blocked_reader(c, 10_000)
        c.write("in time")
        t.join(10)
        assert out["value"] == "in time"


def test_empty_read_ms_waits_that_long_then_returns_none(sim):
    with echo(sim) as c:
        t0 = time.monotonic()
        assert c.read(300) is None
        waited = time.monotonic() - t0
        assert 0.29 <= waited < 5, waited


@pytest.mark.parametrize("timeout", [-1, -2])
def test_empty_read_at_once_returns_none(sim, timeout):
    with echo(sim) as c:
        t0 = time.monotonic()
        assert c.read(timeout) is None
        assert c.read_event(timeout) is None
        assert time.monotonic() - t0 < 0.5


# --- connection lost ----------------------------------------------------------------


@pytest.fixture(scope="module")
def dropping(sim_factory):
    """A simulator that drops every connection after 5 data messages."""
    return sim_factory("--rate", "1000", "--drop-after", "5")


def test_lost_connection_comes_after_its_messages_then_every_mode_returns_empty(dropping):
    with wsdial.Dial(f"{dropping}/binance") as c:
        seqs = [json.loads(c.read())["seq"] for _ in range(5)]
        assert seqs == [0, 1, 2, 3, 4]
        assert c.read() == ""
        # Without reconnect, every later read says so again, at once.
        for timeout in (None, 0, 10_000, -1, -2, -5):
            t0 = time.monotonic()
            assert c.read(timeout) == ""
            assert time.monotonic() - t0 < 1
        ev = c.read_event()
        assert ev.kind == "disconnect" and ev.data is None
        assert ev.cause in ("closed_by_peer", "eof"), ev
        assert not c.connected
        assert c.write("anyone?") == 0


def test_empty_text_message_is_told_from_a_lost_connection(ws_server):
    with wsdial.Dial(ws_server) as c:
        assert json.loads(c.read(5000))["type"] == "hello"
        c.write("")
        ev = c.read_event(5000)
        assert (ev.kind, ev.data, ev.cause) == ("text", "", None)
        c.write("")
        assert c.read(5000) == "", "read() gives the empty message as Dial does"
        c.close()
        ev = c.read_event()
        assert (ev.kind, ev.data, ev.cause) == ("disconnect", None, "closed_by_user")
        assert "closed" in ev.detail


# --- text, binary, write --------------------------------------------------------------


def test_text_is_str_and_binary_is_bytes_unmangled(ws_server):
    with wsdial.Dial(ws_server) as c:
        c.read(5000)  # hello
        raw = bytes([0xFF, 0x00, 0xC3, 0x28]) + b"x"
        assert c.write(raw) == 5
        assert c.write(bytearray(b"ba")) == 2
        assert c.write("héllo") == 6, "write returns bytes handed over, UTF-8"
        assert c.read(5000) == raw
        assert c.read(5000) == b"ba"
        assert c.read(5000) == "héllo"
        ev_types = []
        for m in (b"\x01", "t"):
            c.write(m)
            ev = c.read_event(5000)
            ev_types.append((ev.kind, type(ev.data)))
        assert ev_types == [("binary", bytes), ("text", str)]


def test_write_refuses_other_types(sim):
    with echo(sim) as c:
        with pytest.raises(TypeError, match="str .* or bytes"):
            c.write(42)


def test_read_timeout_must_be_an_int_of_ms(sim):
    with echo(sim) as c:
        with pytest.raises(TypeError):
            c.read(0.5)


def test_stats_and_properties(sim):
    c = echo(sim)
    assert c.connected and c.url == f"{sim}/echo" and c.protocol is None
    c.write("x")
    assert c.read(5000) == "x"
    s = c.stats()
    assert set(s) == {
        "received", "received_bytes", "dropped", "discarded", "undecoded",
        "reconnects", "sent", "unsent", "queued", "queued_bytes",
    }
    assert (s["received"], s["received_bytes"], s["sent"]) == (1, 1, 1)
    c.close()
    c.close()  # idempotent
    assert not c.connected
    assert "not connected" in repr(c)


def test_messages_buffered_before_close_can_still_be_read(sim):
    c = echo(sim)
    c.write("kept")
    buffered(c, 1)
    c.close()
    assert c.read() == "kept"
    assert c.read() == ""


def test_drops_are_counted_when_the_buffer_is_full(sim_factory):
    fast = sim_factory("--rate", "0")
    with wsdial.Dial(f"{fast}/binance|qsize=10") as c:
        eventually(lambda: c.stats()["dropped"] > 0, what="drops")
        s = c.stats()
        assert s["queued"] <= 10
        # The oldest were dropped: what is left is the newest, in order.
        seqs = [json.loads(c.read())["seq"] for _ in range(5)]
        assert seqs == sorted(seqs) and seqs[0] > 0

