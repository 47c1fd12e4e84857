"""A Huobi/HTX-style feed: gzip-compressed binary frames, and {"ping": n}
heartbeats that must be answered with {"pong": n} within seconds or the server
hangs up. `auto_reply` answers them as they arrive, on the thread that reads
the socket (wsdial's background thread when this program is busy), so the feed
stays up even when the program is slow to read.

`cargo run --release -- serve`, then `python huobi_gzip.py [BASE_URL] [COUNT]`.
"""
import json
import sys

from wsdial import Dial

base = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9001"
count = int(sys.argv[2]) if len(sys.argv) > 2 else 20


def pong(msg):
    """{"ping": n} -> {"pong": n}, sent at once and kept out of the buffer."""
    if isinstance(msg, str) and msg.startswith('{"ping":'):
        return '{"pong":' + msg[len('{"ping":'):]
    return None  # everything else goes to read()


# Real HTX: wss://api.huobi.pro/ws
address = f'{base}/huobi|compress=gzip&mode=recv&reconnect=true&payload={{"sub":"market.btcusdt.ticker","id":"ex1"}}'
with Dial(address, auto_reply=pong) as feed:
    seen = 0
    while seen < count:
        msg = feed.read()
        if msg == "":
            print("disconnected; reconnecting", file=sys.stderr)
            continue
        v = json.loads(msg)  # inflated already: gzip frames arrive as text
        if "tick" in v:
            print(f"{v['ch']} close {v['tick']['close']:.2f}")
            seen += 1
        else:
            print("control:", msg)
