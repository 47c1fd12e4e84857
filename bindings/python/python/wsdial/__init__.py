"""wsdial for Python: one string becomes a live, self-healing connection.

    from wsdial import Dial

    with Dial("wss://stream.binance.com:9443/ws/btcusdt@trade|reconnect=true") as conn:
        while True:
            msg = conn.read(5000)   # str, bytes, None (nothing for 5 s), "" (lost)
            ...

A background thread (in Rust) reads the socket all the time into a bounded
buffer; ``read`` takes from it with Dial's numbers: no argument or ``0``
blocks, ``n > 0`` waits up to n ms, ``-1`` returns at once, ``-2`` returns the
newest and discards the rest. Every call that waits releases the GIL, and on
the main thread Ctrl-C interrupts it (within ``WAIT_SLICE_MS`` ms).
"""
import os as _os

from ._errors import DialError, DialTimeoutError, UnsupportedError
from ._wsdial import WAIT_SLICE_MS, Conn, Dial, Event, select
from ._wsdial import after_fork_in_child as _after_fork_in_child

__all__ = [
    "Conn",
    "Dial",
    "DialError",
    "DialTimeoutError",
    "Event",
    "UnsupportedError",
    "WAIT_SLICE_MS",
    "select",
]
__version__ = "0.1.0"

if hasattr(_os, "register_at_fork"):
    # The forking thread is the child's main thread, where Ctrl-C is handled.
    _os.register_at_fork(after_in_child=_after_fork_in_child)
