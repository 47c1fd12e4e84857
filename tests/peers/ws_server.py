"""A real third-party WebSocket server (the `websockets` package) for wsdial's tests.

usage: ws_server.py [--host IP] [--tls CERT KEY] [--client-ca CA] [--ping SECONDS]
Binds IP (127.0.0.1 unless told) on a free port and prints the port on the
first line of stdout. On every
connection it first sends a JSON hello describing what it received (path,
headers, agreed subprotocol, the client certificate's common name), then
echoes every message, text as text and binary as binary. `--client-ca CA`
(with `--tls`) requires a client certificate signed by CA (ssl.CERT_REQUIRED).
`--ping S` makes it ping every S seconds and drop clients that do not answer
within S seconds.
"""
import asyncio
import json
import ssl
import sys

from websockets.asyncio.server import serve


async def handler(ws):
    hello = {
        "type": "hello",
        "path": ws.request.path,
        "headers": {k.lower(): v for k, v in ws.request.headers.raw_items()},
        "subprotocol": ws.subprotocol,
        "client_cn": client_cn(ws),
    }
    await ws.send(json.dumps(hello))
    async for msg in ws:
        await ws.send(msg)


def client_cn(ws):
    """The common name of the client certificate, if one was presented."""
    cert = ws.transport.get_extra_info("peercert") if ws.transport else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def select_subprotocol(connection, offered):
    """Agree to the first known subprotocol offered; none offered is fine too."""
    for p in offered:
        if p in ("zigquant-v2", "json"):
            return p
    return None


async def main():
    args = sys.argv[1:]
    ctx = None
    ping = None
    host = "127.0.0.1"
    while args:
        a = args.pop(0)
        if a == "--host":
            host = args.pop(0)
        elif a == "--tls":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(args.pop(0), args.pop(0))
        elif a == "--client-ca":
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(args.pop(0))
        elif a == "--ping":
            ping = float(args.pop(0))
    async with serve(
        handler, host, 0, ssl=ctx, select_subprotocol=select_subprotocol,
        ping_interval=ping, ping_timeout=ping, max_size=64 * 1024 * 1024,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        # Ends when the test closes stdin (or the test process dies).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


asyncio.run(main())
