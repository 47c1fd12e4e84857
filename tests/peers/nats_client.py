"""A third-party NATS client (nats-py) for tests/nats.rs.

    nats_client.py URL pub SUBJECT COUNT PREFIX   publishes PREFIX0 .. PREFIX{COUNT-1}, flushes, prints "done"
    nats_client.py URL sub SUBJECT COUNT          prints "ready" once subscribed, then each payload on a line,
                                                  exits after COUNT messages (30 s at most)
    nats_client.py URL bench SUBJECT COUNT        prints "ready", then the seconds it took to receive COUNT messages
"""
import asyncio
import sys
import time

import nats


async def main():
    url, mode, subject, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    nc = await nats.connect(url, allow_reconnect=False)
    if mode == "pub":
        prefix = sys.argv[5]
        for i in range(count):
            await nc.publish(subject, f"{prefix}{i}".encode())
        await nc.flush()
        print("done", flush=True)
    else:
        got = 0
        done = asyncio.get_running_loop().create_future()
        start = None

        async def on_msg(msg):
            nonlocal got, start
            if start is None:
                start = time.perf_counter()
            got += 1
            if mode == "sub":
                print(msg.data.decode(errors="replace"), flush=True)
            if got >= count and not done.done():
                done.set_result(None)

        await nc.subscribe(subject, cb=on_msg, pending_msgs_limit=count + 1, pending_bytes_limit=1 << 30)
        await nc.flush()
        print("ready", flush=True)
        await asyncio.wait_for(done, 60)
        if mode == "bench":
            print(f"{time.perf_counter() - start:.6f}", flush=True)
    await nc.close()


asyncio.run(main())
