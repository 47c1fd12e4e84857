"""The exceptions of wsdial. Every dial failure is a DialError, an OSError."""
from typing import Optional

__all__ = ["DialError", "DialTimeoutError", "UnsupportedError"]


class DialError(OSError):
    """A dial failed, or its address was refused; the message is wsdial's
    (``invalid address: unknown option `compres`; did you mean `compress`? …``).

    Attributes:
        kind: the phase that failed: ``"address"``, ``"dns"``, ``"tcp"``,
            ``"proxy"``, ``"tls"``, ``"handshake"``, ``"unsupported"`` or ``"io"``.
        key: for ``kind == "address"``, the option that was wrong, as written.
        http_status: the HTTP status the server (or an HTTP proxy) answered.
        timed_out: True when the dial deadline passed.
    """

    kind: str = "io"
    key: Optional[str] = None
    http_status: Optional[int] = None
    timed_out: bool = False


class DialTimeoutError(DialError, TimeoutError):
    """The dial deadline (``timeout``) passed before the connection was up."""


class UnsupportedError(DialError, NotImplementedError):
    """A feature this build of wsdial does not have: an option such as
    ``enableCompression=true`` at dial time, or a call that the connection's
    scheme does not have (``exec()`` and ``fd()`` on a WebSocket)."""
