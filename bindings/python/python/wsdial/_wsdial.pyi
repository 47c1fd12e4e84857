"""Type stubs of the native module wsdial._wsdial (re-exported by wsdial)."""
from types import TracebackType
from typing import Any, Callable, Iterable, Literal, Optional, Sequence, Type, Union

Message = Union[str, bytes]

WAIT_SLICE_MS: int
"""How often a wait on the main thread looks for Ctrl-C, in milliseconds."""

class Event:
    """One read's result, told apart (see ``Conn.read_event``)."""

    kind: Literal["text", "binary", "disconnect"]
    data: Optional[Message]
    """The message (``str`` for text, ``bytes`` for binary); ``None`` for a disconnect."""
    cause: Optional[
        Literal[
            "closed_by_peer", "eof", "io", "protocol", "idle", "ping_timeout",
            "closed_by_user", "gave_up", "refused", "not_readable", "other",
        ]
    ]
    """Why the connection was lost; ``None`` for a message."""
    close_code: Optional[int]
    """The close code the peer sent (``cause == "closed_by_peer"``)."""
    detail: Optional[str]
    """A description of the disconnect; ``None`` for a message."""
    decode_error: Optional[str]
    """Why a binary frame could not be inflated (``compress``); else ``None``."""
    received_at: Optional[float]
    """When the message was read from the socket (seconds since the epoch)."""
    topic: Optional[str]
    """A broker's message: its topic (subject, routing key)."""
    partition: Optional[int]
    """A Kafka record's partition."""
    offset: Optional[int]
    """A Kafka record's offset."""

class Conn:
    """A connection made by ``Dial``; every method may be called from any thread."""

    @property
    def connected(self) -> bool:
        """True while a connection is up (false while lost, reconnecting, or closed)."""
    @property
    def protocol(self) -> Optional[str]:
        """The subprotocol the server agreed to (``protocol=``)."""
    @property
    def url(self) -> str:
        """The URL this connection dials (the address before ``|``)."""
    def read(self, timeout: Optional[int] = None) -> Optional[Message]:
        """``None``/``0`` blocks, ``n > 0`` waits n ms, ``-1`` at once, ``-2`` the newest.
        Returns ``str``, ``bytes``, ``None`` (nothing), or ``""`` (connection lost)."""
    def read_event(self, timeout: Optional[int] = None) -> Optional[Event]:
        """Like ``read``, but an ``Event``, which tells ``""`` from a lost connection."""
    def write(self, data: Union[str, bytes, bytearray]) -> int:
        """Sends text (``str``) or binary (``bytes``); the byte count, or 0 with no connection."""
    def close(self) -> None:
        """Close frame, no more reconnects, blocked readers get ``""``; idempotent."""
    def stats(self) -> dict[str, int]:
        """``received``, ``received_bytes``, ``dropped``, ``discarded``, ``undecoded``,
        ``reconnects``, ``sent``, ``unsent``, ``queued``, ``queued_bytes``."""
    def exec(self, sql: str, params: Optional[Sequence[object]] = None) -> dict[str, Any]:
        """Runs one SQL statement on a database connection; Dial's
        ``{"columns": [...], "values": [[...]]}`` (and ``"affected"`` when the
        database reports the rows changed). ``params`` bind to the placeholders.
        Raises ``ExecError``/``ExecTimeoutError``; ``UnsupportedError`` when the
        connection is not a database."""
    def exec_many(self, sql: str, rows: Iterable[Sequence[object]]) -> int:
        """Runs one SQL statement once per parameter row, in order (like
        DB-API's ``executemany``; SQLite prepares it once) and returns the rows
        affected in total. No implicit transaction; the first failing row stops
        the batch with an ``ExecError`` naming its index (0-based). On
        ClickHouse an ``INSERT … VALUES (?, …)`` of one tuple is one INSERT of
        every row, all or nothing."""
    def fd(self) -> int:
        """Database connections: a handle number that ``Dial(n)`` accepts from any
        thread, for the same session, until ``release(n)``. Raises
        ``UnsupportedError`` on other connections."""
    def __enter__(self) -> "Conn": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

def Dial(
    address: Union[str, int],
    timeout: Optional[float] = None,
    *,
    on_connect: Optional[Callable[[], Union[str, Iterable[str], None]]] = None,
    auto_reply: Optional[Callable[[Message], Optional[str]]] = None,
) -> Conn:
    """Dials ``URL|key=value&…`` (or a database handle from ``Conn.fd()``);
    ``timeout`` in seconds. Raises ``DialError``."""

def release(handle: int) -> None:
    """Lets the session of a handle from ``Conn.fd()`` close once no connection
    is open on it."""

def select(conns: Sequence[Conn], timeout: Optional[int] = None) -> Optional[int]:
    """The index of a connection with something to read, or ``None`` after the timeout
    (ms: ``None``/``0`` forever, ``n > 0`` up to n ms, negative: look once)."""

def after_fork_in_child() -> None: ...
