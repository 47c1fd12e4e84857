"""Fixtures of the Python package's tests: the exchange simulator (`wsdial
serve`), the Python `websockets` echo server of the Rust tests, a per-test
watchdog, and `eventually` (wait for a condition with a deadline, never a
bare sleep).

Peers listen on 127.0.0.1 only. `WSDIAL_BIN` names the `wsdial` binary
(scripts/test sets it); without it, the tests build it with cargo.
"""
import faulthandler
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
# How long one test may take before the watchdog dumps every thread's stack
# and ends the run (a hang is a failure, never a stuck CI).
WATCHDOG_SECS = float(os.environ.get("WSDIAL_TEST_WATCHDOG", "120"))


@pytest.fixture(autouse=True)
def watchdog():
    # To the process's own standard error (file descriptor 2), which pytest
    # leaves alone with --capture=sys (scripts/test): the dump reaches the log.
    faulthandler.dump_traceback_later(WATCHDOG_SECS, exit=True, file=sys.__stderr__)
    yield
    faulthandler.cancel_dump_traceback_later()


def eventually(cond, timeout=10.0, what="condition"):
    """Polls `cond` until it is true; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


@pytest.fixture(scope="session")
def wsdial_bin():
    env = os.environ.get("WSDIAL_BIN")
    if env:
        return env
    subprocess.run(
        ["cargo", "build", "-q", "-p", "wsdial-cli"], cwd=ROOT, check=True
    )
    target = os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "target")
    return os.path.join(target, "debug", "wsdial")


class Peer:
    """A server process that prints where it listens; killed (by its pid) at the end."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.first_line = self.proc.stdout.readline().strip()

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="session")
def sim_factory(wsdial_bin):
    """`sim(*args)`: a `wsdial serve --port 0 ARGS` of its own; its ws:// base URL."""
    peers = {}

    def start(*args):
        if args in peers:
            return peers[args][1]
        p = Peer([wsdial_bin, "serve", "--port", "0", *args])
        # "wsdial serve: listening on ws://127.0.0.1:PORT"
        base = p.first_line.rsplit(" ", 1)[-1]
        assert base.startswith("ws://127.0.0.1:"), p.first_line
        peers[args] = (p, base)
        return base

    yield start
    for p, _ in peers.values():
        p.stop()


@pytest.fixture(scope="session")
def sim(sim_factory):
    """The simulator at 200 data messages per second."""
    return sim_factory("--rate", "200")


@pytest.fixture(scope="session")
def ws_server():
    """The Python `websockets` server of the Rust tests (tests/peers/ws_server.py):
    a JSON hello on every connection, then an echo of every message."""
    p = Peer([sys.executable, str(ROOT / "tests" / "peers" / "ws_server.py")])
    yield f"ws://127.0.0.1:{int(p.first_line)}"
    p.stop()


def thread_state(tid):
    """The scheduler state of a thread of this process ('R', 'S', …)."""
    return thread_stat(os.getpid(), tid)


def thread_stat(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/stat") as f:
        # After "(comm)", the state is the first field.
        return f.read().rsplit(")", 1)[1].split()[0]


def wakeups(tid, pid=None):
    """Voluntary context switches of a thread so far (each a wake-up from a wait)."""
    with open(f"/proc/{pid or os.getpid()}/task/{tid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches")


def threads_and_fds():
    return len(os.listdir("/proc/self/task")), len(os.listdir("/proc/self/fd"))
