"""Reconnect with payloads, the hooks (`on_connect`, `auto_reply`) and their
threads, and gzip frames."""
import json
import sys
import threading

import pytest

import wsdial
from conftest import eventually


@pytest.fixture(scope="module")
def dropping(sim_factory):
    """A simulator that drops every connection 0.3 s after it is up."""
    return sim_factory("--rate", "200", "--drop-every", "0.3")


def test_reconnect_sends_the_payload_again_and_reads_go_on(dropping):
    with wsdial.Dial(f"{dropping}/echo|reconnect=true&interval=20&payload=hello") as c:
        got = [c.read(5000) for _ in range(5)]
        assert got == ["hello", "", "hello", "", "hello"]
        assert c.stats()["reconnects"] >= 2


def test_on_connect_builds_fresh_messages_on_the_background_thread(dropping):
    calls = []

    def login():
        calls.append(threading.current_thread() is threading.main_thread())
        return [f"login {len(calls)}", "subscribe"]

    with wsdial.Dial(f"{dropping}/echo|reconnect=true&interval=20&payload=after", on_connect=login) as c:
        got = [c.read(5000) for _ in range(7)]
    assert got == ["login 1", "subscribe", "after", "", "login 2", "subscribe", "after"]
    assert calls[:2] == [False, False], "on_connect runs on the background thread"


def test_on_connect_may_return_one_str_or_none(sim):
    with wsdial.Dial(f"{sim}/echo", on_connect=lambda: "one") as c:
        assert c.read(5000) == "one"
    with wsdial.Dial(f"{sim}/echo|payload=p", on_connect=lambda: None) as c:
        assert c.read(5000) == "p"


def unraisables(monkeypatch):
    """Collects what sys.unraisablehook is given (from any thread)."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u))
    return seen


def test_a_failing_on_connect_is_reported_and_the_connection_goes_on(sim, monkeypatch):
    seen = unraisables(monkeypatch)

    def broken():
        raise RuntimeError("no key")

    with wsdial.Dial(f"{sim}/echo|payload=p", on_connect=broken) as c:
        assert c.read(5000) == "p"
        c.write("still up")
        assert c.read(5000) == "still up"
    assert [type(u.exc_value) for u in seen] == [RuntimeError]
    assert seen[0].object is broken


def test_a_bad_on_connect_result_is_a_reported_type_error(sim, monkeypatch):
    seen = unraisables(monkeypatch)
    with wsdial.Dial(f"{sim}/echo|payload=p", on_connect=lambda: ["ok", 3]) as c:
        assert c.read(5000) == "p", "nothing of a bad result is sent"
    assert "list of str" in str(seen[0].exc_value)


def huobi(base, **kw):
    return wsdial.Dial(
        f'{base}/huobi|compress=gzip&reconnect=true&interval=20&payload={{"sub":"market.btcusdt.ticker"}}', **kw
    )


def pong(msg):
    """Answers Huobi's {"ping": n} with {"pong": n}; lets the rest through."""
    if isinstance(msg, str) and msg.startswith('{"ping":'):
        return '{"pong":' + msg[len('{"ping":'):]
    return None


@pytest.fixture(scope="module")
def pinging(sim_factory):
    """Huobi heartbeats every 0.1 s; a client that does not answer within 0.3 s is dropped."""
    return sim_factory("--rate", "100", "--ping-every", "0.1", "--pong-deadline", "0.3")


def test_gzip_frames_arrive_inflated_and_auto_reply_keeps_the_feed_up(pinging):
    threads = set()

    def answer(msg):
        threads.add(threading.current_thread() is threading.main_thread())
        return pong(msg)

    with huobi(pinging, auto_reply=answer) as c:
        first = c.read_event(5000)
        assert first.kind == "text" and json.loads(first.data)["subbed"] == "market.btcusdt.ticker", first
        # 1.5 s: five times the pong deadline.
        seqs = []
        for _ in range(150):
            m = c.read(5000)
            assert m and isinstance(m, str), f"{m!r}: the feed went down"
            v = json.loads(m)
            assert "ping" not in v, "answered pings are kept out of the buffer"
            seqs.append(v["seq"])
        assert seqs == list(range(seqs[0], seqs[0] + 150))
        assert c.stats()["reconnects"] == 0
        assert c.stats()["undecoded"] == 0
    # It ran on whichever thread read the socket (see the package docs).
    assert threads


def test_without_the_answer_the_same_feed_is_dropped(pinging):
    pings = 0
    with huobi(pinging) as c:
        while True:
            ev = c.read_event(5000)
            assert ev is not None, "no drop within 5 s"
            if ev.kind == "disconnect":
                break
            pings += ev.data.startswith('{"ping":')
    assert ev.cause in ("closed_by_peer", "eof"), ev
    assert pings >= 1, "unanswered pings reach the program"


def test_compress_dual_round_trip_through_the_websockets_server(ws_server):
    with wsdial.Dial(f"{ws_server}|compress=gzip&mode=dual") as c:
        json.loads(c.read(5000))  # the hello (text, passes untouched)
        assert c.write("gzip me " * 100) == 800
        ev = c.read_event(5000)
        # Sent as a gzip binary frame, echoed, inflated back to text.
        assert (ev.kind, ev.data, ev.decode_error) == ("text", "gzip me " * 100, None)


def test_a_corrupt_gzip_frame_is_delivered_raw_with_its_error(ws_server):
    with wsdial.Dial(f"{ws_server}|compress=gzip&mode=recv") as c:
        c.read(5000)
        c.write(b"\x1f\x8b not gzip")
        ev = c.read_event(5000)
        assert ev.kind == "binary" and ev.data == b"\x1f\x8b not gzip" and ev.decode_error
        assert c.stats()["undecoded"] == 1
