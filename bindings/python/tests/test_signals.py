"""Ctrl-C (SIGINT) ends a blocked read(), select() or a slow Dial() on the main
thread within 100 ms, as KeyboardInterrupt: a child process is sent SIGINT
while it waits, and reports when the exception reached Python."""
import os
import selectors
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import eventually, thread_stat

CHILD = textwrap.dedent(
    """
    import signal, sys, time, wsdial
    # A process started in the background by a non-interactive shell (as a
    # CI job may be) inherits SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler: put it back, as an interactive program has it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    what, url = sys.argv[1], sys.argv[2]
    try:
        if what == "dial":
            print("ready", flush=True)
            wsdial.Dial(url, timeout=60)
        else:
            conn = wsdial.Dial(url)
            print("ready", flush=True)
            if what == "read":
                conn.read()
            elif what == "read_ms":
                conn.read(60_000)
            elif what == "select":
                wsdial.select([conn, wsdial.Dial(url)])
        print("returned", flush=True)
    except KeyboardInterrupt:
        print("interrupted", time.monotonic(), flush=True)
    """
)


def readline(p, timeout=20.0):
    """The child's next line, or a failure that says what the child was
    doing, after `timeout` seconds (never a silent hang)."""
    with selectors.DefaultSelector() as sel:
        sel.register(p.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            state = thread_stat(p.pid, p.pid) if p.poll() is None else f"exited {p.returncode}"
            raise AssertionError(f"the child printed nothing in {timeout} s (its main thread: {state})")
    return p.stdout.readline()


@pytest.fixture
def silent_listener():
    """Accepts TCP connections (in its backlog) and never answers a handshake."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"ws://127.0.0.1:{s.getsockname()[1]}/slow"


@pytest.mark.parametrize("what", ["read", "read_ms", "select", "dial"])
def test_ctrl_c_interrupts_a_wait_within_100_ms(sim, silent_listener, what):
    url = silent_listener if what == "dial" else f"{sim}/echo"
    p = subprocess.Popen(
        [sys.executable, "-c", CHILD, what, url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert readline(p) == "ready\n"
        # The main thread is asleep in the wait (not on its way to it).
        eventually(lambda: thread_stat(p.pid, p.pid) == "S", what="the child to wait")
        sent = time.monotonic()
        os.kill(p.pid, signal.SIGINT)
        line = readline(p).split()
        assert line[:1] == ["interrupted"], line
        took = float(line[1]) - sent
        assert p.wait(10) == 0
    finally:
        p.kill()
        p.wait()
    print(f"{what}: KeyboardInterrupt {took * 1000:.1f} ms after SIGINT")
    assert took < 0.1, f"KeyboardInterrupt {took * 1000:.0f} ms after SIGINT"
