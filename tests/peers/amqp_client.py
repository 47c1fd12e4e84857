"""A third-party AMQP 0-9-1 client (pika) for tests/amqp.rs.

    amqp_client.py PORT USER PASS pub QUEUE COUNT PREFIX   declares QUEUE, publishes PREFIX0 .. PREFIX{COUNT-1}
                                                           through the default exchange, prints "done"
    amqp_client.py PORT USER PASS sub QUEUE COUNT          declares QUEUE, prints "ready", then each body on a
                                                           line; exits after COUNT messages (60 s at most)
    amqp_client.py PORT USER PASS bench QUEUE COUNT        as sub, printing only the seconds COUNT messages took

With DURABLE=1 in the environment, the queue is declared durable. With
AMQP_CA=PATH, it connects with TLS, checking the server's certificate for
"localhost" against the CA in PATH.
"""
import os
import ssl
import sys
import time

import pika

port, user, password, mode, queue, count = sys.argv[1:7]
port, count = int(port), int(count)
tls = None
if os.environ.get("AMQP_CA"):
    tls = pika.SSLOptions(ssl.create_default_context(cafile=os.environ["AMQP_CA"]), "localhost")
params = pika.ConnectionParameters(host="127.0.0.1", port=port, credentials=pika.PlainCredentials(user, password),
                                   ssl_options=tls)
conn = pika.BlockingConnection(params)
ch = conn.channel()
ch.queue_declare(queue=queue, durable=os.environ.get("DURABLE") == "1")
if mode == "pub":
    prefix = sys.argv[7]
    for i in range(count):
        ch.basic_publish(exchange="", routing_key=queue, body=f"{prefix}{i}".encode())
    print("done", flush=True)
else:
    print("ready", flush=True)
    got, start, deadline = 0, None, time.monotonic() + 60
    for _method, _props, body in ch.consume(queue, auto_ack=True, inactivity_timeout=1):
        if body is None:
            if time.monotonic() > deadline:
                sys.exit("timed out")
            continue
        if start is None:
            start = time.perf_counter()
        got += 1
        if mode == "sub":
            print(body.decode(errors="replace"), flush=True)
        if got >= count:
            break
    if mode == "bench":
        print(f"{time.perf_counter() - start:.6f}", flush=True)
conn.close()
