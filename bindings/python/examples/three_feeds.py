"""A bot that reads three feeds at once with `select`: one blocking wait on
all of them, so a quiet feed is never starved behind a busy one and no polling
loop burns CPU.

`cargo run --release -- serve`, then `python three_feeds.py [BASE_URL] [COUNT]`.
"""
import sys

import wsdial

base = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9001"
count = int(sys.argv[2]) if len(sys.argv) > 2 else 30


def pong(msg):
    if isinstance(msg, str) and msg.startswith('{"ping":'):
        return '{"pong":' + msg[len('{"ping":'):]
    return None


feeds = {
    "binance": wsdial.Dial(f"{base}/binance|reconnect=true"),
    "huobi": wsdial.Dial(
        f'{base}/huobi|compress=gzip&reconnect=true&payload={{"sub":"market.btcusdt.ticker"}}',
        auto_reply=pong,
    ),
    "okx": wsdial.Dial(
        f'{base}/okx|reconnect=true&ping=20000&ping_msg=ping'
        f'&payload={{"op":"subscribe","args":[{{"channel":"tickers","instId":"BTC-USDT"}}]}}'
    ),
}
names = list(feeds)
conns = list(feeds.values())
per_feed = dict.fromkeys(names, 0)
try:
    while sum(per_feed.values()) < count:
        i = wsdial.select(conns, 10_000)  # ms; Ctrl-C works here too
        if i is None:
            print("nothing from any feed for 10 s", file=sys.stderr)
            continue
        # Take everything that feed has now, then wait on all three again.
        while (ev := conns[i].read_event(-1)) is not None:
            if ev.kind == "disconnect":
                print(f"{names[i]}: {ev.detail}", file=sys.stderr)
                continue
            per_feed[names[i]] += 1
            text = ev.data if isinstance(ev.data, str) else "<binary>"
            print(f"{names[i]:<8} {text[:90]}")
finally:
    for c in conns:
        c.close()
print("messages per feed:", " ".join(f"{n} {k}" for n, k in per_feed.items()))
