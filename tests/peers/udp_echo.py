"""A UDP echo server: each datagram back to its sender, unchanged (boundaries kept).
Binds 127.0.0.1:0, prints the port, runs until stdin closes."""
import socket, sys, threading

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)

def serve():
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)

threading.Thread(target=serve, daemon=True).start()
sys.stdin.read()
