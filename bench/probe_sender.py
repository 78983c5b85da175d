"""Ground truth for bench/lag-accuracy.mjs: sends 8-byte CLOCK_MONOTONIC
timestamps (the clock process.hrtime reads) to the benchmark's socket at
Poisson-random instants, independent of what the measured event loop does.

usage: probe_sender.py PORT RATE_PER_S DURATION_S SEED
"""
import random
import socket
import struct
import sys
import time

port, rate, duration, seed = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
sock = socket.create_connection(("127.0.0.1", port))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
end = time.monotonic_ns() + int(duration * 1e9)
due = time.monotonic_ns()
sent = 0
while True:
    due += int(rng.expovariate(rate) * 1e9)
    if due >= end:
        break
    left = due - time.monotonic_ns()
    if left > 0:
        # The send instant only has to be independent of the measured loop;
        # the timestamp below is taken when it really happens.
        time.sleep(left / 1e9)
    sock.sendall(struct.pack("<Q", time.monotonic_ns()))
    sent += 1
sock.close()
print(sent)
