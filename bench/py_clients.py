"""Python peer clients for scripts/bench: usage py_clients.py KIND URL N
KIND: wsclient (websocket-client's WebSocket), wsapp (websocket-client's
WebSocketApp), websockets (the websockets package's threading client), wsdial
(this repository's Python package, bindings/python: `conn.read()` in a loop;
with gzip=1 it inflates with `compress=gzip`, so frames arrive as text).
Reads N data messages (inflating gzip frames when the URL says gzip=1; the
websockets client offers permessage-deflate when it says pmd=1) and
prints {"messages": n, "secs": t} measured from the first message."""
import json
import sys
import time
import zlib

kind, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
gz = "gzip=1" in url
state = {"count": 0, "t0": None, "bytes": 0}


def on_data(data):
    if state["t0"] is None:
        state["t0"] = time.perf_counter()
    if gz and isinstance(data, (bytes, bytearray)):
        data = zlib.decompress(data, 31)
    state["bytes"] += len(data)
    state["count"] += 1


if kind == "wsclient":
    import websocket
    ws = websocket.create_connection(url, skip_utf8_validation=False)
    while state["count"] < n:
        op, data = ws.recv_data()
        if op in (1, 2):
            on_data(data)
        elif op == 8:
            break
    ws.close()
elif kind == "wsapp":
    import websocket

    def on_message(app, message):
        on_data(message)
        if state["count"] >= n:
            app.close()

    app = websocket.WebSocketApp(url, on_message=on_message)
    app.run_forever()
elif kind == "websockets":
    from websockets.sync.client import connect
    # permessage-deflate offered only where the load source compresses
    with connect(url, max_size=None, compression="deflate" if "pmd=1" in url else None) as ws:
        for msg in ws:
            on_data(msg)
            if state["count"] >= n:
                break
elif kind == "wsdial":
    import wsdial
    conn = wsdial.Dial(url + ("|compress=gzip" if gz else ""))
    read = conn.read
    while state["count"] < n:
        msg = read()
        if msg == "":
            break  # the connection was lost
        on_data(msg)
    state["dropped"] = conn.stats()["dropped"]
    conn.close()
else:
    sys.exit(f"unknown kind {kind}")

secs = time.perf_counter() - state["t0"] if state["t0"] else 0.0
out = {"messages": state["count"], "secs": secs, "bytes": state["bytes"]}
if "dropped" in state:
    out["dropped"] = state["dropped"]  # the buffer's drops: the reader fell behind
print(json.dumps(out))
