"""A real third-party WebSocket server (the `websockets` package) for wsdial's tests.

usage: ws_server.py [--host IP] [--tls CERT KEY] [--client-ca CA] [--ping SECONDS] [--deflate PARAMS]
Binds IP (127.0.0.1 unless told) on a free port and prints the port on the
first line of stdout. On every connection it first sends a JSON hello
describing what it received (path, headers, agreed subprotocol, agreed
extensions, the client certificate's common name), then echoes every message,
text as text and binary as binary; the text `?stats` is answered with JSON
counts of the data frames received and of those compressed (RSV1).
`--client-ca CA` (with `--tls`) requires a client certificate signed by CA
(ssl.CERT_REQUIRED). `--ping S` makes it ping every S seconds and drop clients
that do not answer within S seconds. permessage-deflate is accepted when
offered (websockets' default); `--deflate PARAMS` sets what the server answers:
a comma list of `server_no_context_takeover`, `client_no_context_takeover`,
`server_max_window_bits=N`, `client_max_window_bits=N` (or `off`).
"""
import asyncio
import json
import ssl
import sys

from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory


class Counting(ServerPerMessageDeflateFactory):
    """permessage-deflate that counts the data frames it decodes."""

    def process_request_params(self, params, accepted):
        response, ext = super().process_request_params(params, accepted)
        ext.counts = {"data_frames_in": 0, "compressed_in": 0}
        decode = ext.decode

        def counting(frame, *, max_size=None):
            if frame.opcode.value in (0, 1, 2):
                ext.counts["data_frames_in"] += 1
                ext.counts["compressed_in"] += int(frame.rsv1)
            return decode(frame, max_size=max_size)

        ext.decode = counting
        return response, ext


def deflate_factory(spec):
    if spec == "off":
        return None
    kw = {"compress_settings": {"memLevel": 5}}
    if spec is None:
        # websockets' own default: smaller windows both ways
        kw.update(server_max_window_bits=12, client_max_window_bits=12)
        spec = ""
    for item in filter(None, spec.split(",")):
        k, _, v = item.partition("=")
        kw[k] = int(v) if v else True
    return Counting(**kw)


async def handler(ws):
    pmd = next((e for e in ws.protocol.extensions if e.name == "permessage-deflate"), None)
    hello = {
        "type": "hello",
        "path": ws.request.path,
        "headers": {k.lower(): v for k, v in ws.request.headers.raw_items()},
        "subprotocol": ws.subprotocol,
        "client_cn": client_cn(ws),
        "extensions": ws.response.headers.get("Sec-WebSocket-Extensions"),
    }
    await ws.send(json.dumps(hello))
    async for msg in ws:
        if msg == "?stats":
            counts = getattr(pmd, "counts", {"data_frames_in": None, "compressed_in": None})
            await ws.send(json.dumps({"type": "stats", **counts}))
        else:
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
    deflate = None
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
        elif a == "--deflate":
            deflate = args.pop(0)
    factory = deflate_factory(deflate)
    async with serve(
        handler, host, 0, ssl=ctx, select_subprotocol=select_subprotocol,
        ping_interval=ping, ping_timeout=ping, max_size=64 * 1024 * 1024,
        compression=None, extensions=[factory] if factory else None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        # Ends when the test closes stdin (or the test process dies).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


asyncio.run(main())
