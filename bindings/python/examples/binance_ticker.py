"""A Binance-style ticker: text frames; the server's protocol Pings are answered
by wsdial's background thread, whatever this program is doing.

Run `cargo run --release -- serve` in one terminal, then
`python binance_ticker.py [BASE_URL] [COUNT]`.
"""
import json
import sys

from wsdial import Dial

base = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9001"
count = int(sys.argv[2]) if len(sys.argv) > 2 else 20

# Real Binance: wss://stream.binance.com:9443/ws/btcusdt@ticker|reconnect=true
with Dial(f"{base}/binance|reconnect=true&idle=60000") as feed:
    seen = 0
    while seen < count:
        msg = feed.read()  # blocks; the GIL is released while it waits
        if msg == "":
            print(f"disconnected: {feed.read_event(-1) or 'reconnecting'}", file=sys.stderr)
            continue
        v = json.loads(msg)
        print(f"{v['s']} last price {v['c']}")
        seen += 1
    print("stats:", feed.stats())
