"""Two probes of this machine, independent of the services: does CPU work get cheaper when the
machine is busier, and what does waking after an idle cost?

    python3 reality/probes.py

1. A fixed unit of pure-Python work (dict stores), after an idle of 0, 1 or 10 ms, beside a
   background process busy 0–80% of one core (in 2 ms periods): its CPU time per unit.
2. A socket round trip to another process after the same idles and backgrounds: the sender's
   CPU time (the send, waking the peer, the receive).

On the machine of reality/README.md: 1. 0.65–0.99 ms, no trend with the background (no speed-up with
load); 2. 8–9 µs after 1 ms idle, 28–38 µs after 10 ms (after 10 ms, 38 µs beside an idle
core and 28–29 beside a busy one in one run; 33 and 30–33 in another).
"""

import multiprocessing as mp
import socket
import time

IDLES_MS = (0.0, 1.0, 10.0)


def unit(n=20000):
    d = {}
    for i in range(n):
        d[i & 255] = i
    return d


def background(share, stop, period=0.002):
    """Busy `share` of every `period` seconds until `stop` is set."""
    while not stop.is_set():
        t = time.perf_counter()
        while time.perf_counter() - t < share * period:
            pass
        time.sleep(max(0.0, (1 - share) * period))


def echo(sock, n):
    for _ in range(n):
        sock.send(sock.recv(64))


def cpu_unit(idle_ms, n=400):
    costs = []
    for _ in range(n):
        time.sleep(idle_ms / 1e3)
        c0 = time.thread_time()
        unit()
        costs.append(time.thread_time() - c0)
    return sum(costs) / n * 1e3


def round_trip(idle_ms, n=400):
    a, b = socket.socketpair()
    peer = mp.Process(target=echo, args=(b, n))
    peer.start()
    costs = []
    for _ in range(n):
        time.sleep(idle_ms / 1e3)
        c0 = time.thread_time()
        a.send(b"x" * 32)
        a.recv(64)
        costs.append(time.thread_time() - c0)
    peer.join()
    a.close()
    b.close()
    return sum(costs) / n * 1e6


def main():
    for share in (0.0, 0.3, 0.6, 0.8):
        stop = mp.Event()
        bg = None
        if share > 0:
            bg = mp.Process(target=background, args=(share, stop))
            bg.start()
            time.sleep(0.3)
        units = [cpu_unit(g) for g in IDLES_MS]
        trips = [round_trip(g) for g in IDLES_MS]
        stop.set()
        if bg:
            bg.join()
        print(f"background {share:.1f} core: CPU unit ms after idle "
              + " / ".join(f"{g:g}" for g in IDLES_MS) + ": "
              + " ".join(f"{u:.3f}" for u in units)
              + "; round trip µs: " + " ".join(f"{t:.1f}" for t in trips), flush=True)


if __name__ == "__main__":
    main()
