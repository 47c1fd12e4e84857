"""Dial: its errors as Python exceptions, its arguments, and what a WebSocket
connection does not have (exec, fd)."""
import socket
import time

import pytest

import wsdial


def test_bad_address_is_a_dial_error_with_wsdials_message():
    with pytest.raises(wsdial.DialError) as info:
        wsdial.Dial("ws://127.0.0.1:9/ws|compres=gzip")
    e = info.value
    assert isinstance(e, OSError)
    assert "unknown option `compres`" in str(e) and "did you mean `compress`" in str(e)
    assert (e.kind, e.key, e.timed_out) == ("address", "compres", False)


@pytest.mark.parametrize(
    "address, says",
    [
        ("ftp://127.0.0.1/x", "scheme"),
        ("ws://127.0.0.1:9/x|qsize=0", "qsize"),
        ("tcp://127.0.0.1:9|compress=gzip", "does not apply to tcp://"),
        ("", "address"),
    ],
)
def test_refused_addresses_say_what_was_wrong(address, says):
    with pytest.raises(wsdial.DialError, match=says) as info:
        wsdial.Dial(address)
    assert info.value.kind == "address"


def test_refused_connection_is_a_tcp_dial_error():
    # A port nobody listens on: bound, then closed.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(wsdial.DialError) as info:
        wsdial.Dial(f"ws://127.0.0.1:{port}/x", timeout=5)
    assert info.value.kind == "tcp" and not isinstance(info.value, wsdial.DialTimeoutError)


def test_deadline_is_a_timeout_error():
    # Accepts the TCP connection (backlog) but never answers the handshake.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        t0 = time.monotonic()
        with pytest.raises(wsdial.DialTimeoutError) as info:
            wsdial.Dial(f"ws://127.0.0.1:{s.getsockname()[1]}/x", timeout=0.3)
        took = time.monotonic() - t0
    e = info.value
    assert isinstance(e, TimeoutError) and isinstance(e, wsdial.DialError) and e.timed_out
    assert 0.25 < took < 5, took


def test_enable_compression_dials_a_server_that_declines_it(sim):
    # permessage-deflate is offered; the simulator does not take it up, and
    # the connection works uncompressed.
    with wsdial.Dial(f"{sim}/echo|enableCompression=true") as conn:
        assert conn.write("hello") == 5
        assert conn.read(5000) == "hello"


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf")])
def test_timeout_must_be_positive_seconds(sim, timeout):
    with pytest.raises(ValueError, match="seconds"):
        wsdial.Dial(f"{sim}/echo", timeout)


def test_hooks_must_be_callable(sim):
    with pytest.raises(TypeError, match="on_connect must be callable"):
        wsdial.Dial(f"{sim}/echo", on_connect="login")
    with pytest.raises(TypeError, match="auto_reply must be callable"):
        wsdial.Dial(f"{sim}/echo", auto_reply=3)


def test_exec_and_fd_are_unsupported_on_a_websocket(sim):
    with wsdial.Dial(f"{sim}/echo") as c:
        with pytest.raises(wsdial.UnsupportedError, match="ws:// connection has none"):
            c.exec("select 1")
        with pytest.raises(NotImplementedError, match="fd"):
            c.fd()


def test_with_block_closes(sim):
    with wsdial.Dial(f"{sim}/echo") as c:
        assert c.connected
    assert not c.connected
    assert c.read_event().cause == "closed_by_user"


def test_raw_tcp_with_the_same_calls(wsdial_bin):
    import subprocess

    # The simulator's raw TCP line service (a line echo) on a port of its own.
    p = subprocess.Popen(
        [wsdial_bin, "serve", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        p.stdout.readline()
        tcp = p.stdout.readline().strip().rsplit(" ", 1)[-1]
        assert tcp.startswith("tcp://127.0.0.1:"), tcp
        with wsdial.Dial(tcp) as c:
            assert c.write(b"ping\n") == 5
            got = b""
            while b"ECHO ping\n" not in got:
                chunk = c.read(5000)
                assert isinstance(chunk, bytes) and chunk, f"after {got!r}: {chunk!r}"
                got += chunk
            assert got == b"HELLO wsdial-sim\nECHO ping\n"
    finally:
        p.kill()
        p.wait()
