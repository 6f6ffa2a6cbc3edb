"""An open-loop load generator: Poisson arrivals at a set rate, whatever the system answers.

Each request's latency runs from its *scheduled* send time, so a generator that falls behind
(or a system that stalls) shows up in the latencies instead of silently sending fewer requests
(no coordinated omission). Requests are bounded in number and time, and go to 127.0.0.1 only.

Why this and not an established tool: wrk2 (open-loop, corrected latencies) is not packaged by
Debian and would have to be built from C; wrk and ab are closed-loop; k6's arrival-rate executor
is a single Go binary from outside this machine's registries. aiohttp is pinned with the
services, records per request the route, scheduled time, status and latency that the check
needs, and can write the client span of each request (the hop from the client to the gateway,
which no server span covers).

Output: CSV with columns route (named as the gateway's server spans name it, e.g.
`GET /user/<int:uid>`), scheduled_s, latency_ms, status, lag_ms (the delay from the
scheduled time to the moment the request started; part of latency_ms). Status 0: the request
timed out at the client or its connection failed.
"""

import argparse
import asyncio
import csv
import json
import os
import random
import resource
import selectors
import sys
import time
from urllib.parse import urlparse

import aiohttp

ROUTES = {
    "user": ("GET", "/user/<int:uid>"),
    "order": ("POST", "/order"),
}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway")
    p.add_argument("--rate", type=float, required=True, help="requests per second (Poisson)")
    p.add_argument("--duration", type=float, required=True, help="seconds of arrivals")
    p.add_argument("--max-requests", type=int, default=1_000_000)
    p.add_argument("--mix", default="user=1,order=1", help="route=weight,…")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=10.0, help="client timeout, s")
    p.add_argument("--trace-dir", help="write a client span per request here (Zipkin v2)")
    p.add_argument("--out", required=True, help="CSV of the requests")
    p.add_argument("--cpu-out", help="write the CPU seconds the generator spent sending here")
    p.add_argument("--events-out",
                   help="write the wall and CPU time of each send and each response here (CSV): "
                   "what each request costs the generator against how long it idled before")
    p.add_argument("--wakeups-out",
                   help="write each wake-up of the event loop here (CSV: how long it slept "
                   "before, the CPU it then spent, the events it handled)")
    p.add_argument("--machine-cpu-out",
                   help="write the busy CPU seconds of the whole machine (every process, the "
                   "kernel's work included) from the first send to the last response here")
    args = p.parse_args(argv)
    host = urlparse(args.url).hostname
    if host not in ("127.0.0.1", "localhost"):
        p.error(f"--url must be on 127.0.0.1, not {host}")
    if not args.rate > 0 or not args.duration > 0:
        p.error("--rate and --duration must be > 0")
    return args


def parse_mix(text):
    mix = []
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name not in ROUTES:
            raise SystemExit(f"unknown route {name!r} in --mix; routes: {', '.join(ROUTES)}")
        mix.append((name, float(weight or 1)))
    return mix


EVENTS = None


def event(kind):
    """Records a send or a response: wall time, the thread's CPU time (with --events-out)."""
    if EVENTS is not None:
        EVENTS.append((time.perf_counter(), time.thread_time(), kind))


async def one(session, args, route, scheduled, t0, wall0, rng_id, spans):
    """Sends one request at (about) its scheduled time; returns its record."""
    event("send")
    loop = asyncio.get_running_loop()
    lag = loop.time() - (t0 + scheduled)
    method, rule = ROUTES[route]
    uid = rng_id.randrange(1, 100_000)
    path = f"/user/{uid}" if route == "user" else "/order"
    trace_id = "%032x" % rng_id.getrandbits(128)
    span_id = "%016x" % rng_id.getrandbits(64)
    headers = {}
    if spans is not None:
        headers = {"X-B3-TraceId": trace_id, "X-B3-SpanId": span_id, "X-B3-Sampled": "1"}
    body = {"user": uid, "items": [{"sku": 17, "qty": 1}, {"sku": 42, "qty": 2}]}
    try:
        async with session.request(method, args.url + path, headers=headers,
                                   json=body if method == "POST" else None) as resp:
            await resp.read()
            status = resp.status
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        status = 0
    latency = loop.time() - (t0 + scheduled)
    event("response")
    if spans is not None:
        span = {
            "traceId": trace_id, "id": span_id, "kind": "CLIENT", "name": f"{method} {rule}",
            # The client span starts at the scheduled time: the generator's own delay is part
            # of what the client sees, as it is part of latency_ms.
            "timestamp": (wall0 + int(scheduled * 1e9)) // 1000,
            "duration": max(1, int(latency * 1e6)),
            "localEndpoint": {"serviceName": "client", "ipv4": "127.0.0.1"},
            "remoteEndpoint": {"serviceName": "gateway"},
            "tags": {"http.status_code": str(status)},
        }
        if status == 0 or status >= 500:
            span["tags"]["error"] = "true"
        spans.append(span)
    return (f"{method} {rule}", scheduled, latency * 1e3, status, lag * 1e3)


class TimedSelector(selectors.DefaultSelector):
    """The event loop's selector, recording each wake-up: how long the loop slept in `select`,
    the CPU it spent from then to its next `select`, and how many events woke it. What a
    request costs the generator depends on how long its loop sat idle before (caches cool, a
    sleeping thread must be woken): this measures that curve."""

    def __init__(self):
        super().__init__()
        self.rows = []
        self._woke = None

    def select(self, timeout=None):
        cpu = time.thread_time()
        if self._woke is not None:
            slept, events, cpu0 = self._woke
            self.rows.append((slept, cpu - cpu0, events))
        t0 = time.perf_counter()
        ready = super().select(timeout)
        slept = time.perf_counter() - t0
        self._woke = (slept, len(ready), time.thread_time())
        return ready


def machine_busy_s():
    """Busy CPU seconds of the whole machine so far (Linux: /proc/stat, all cores)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


async def run(args):
    mix = parse_mix(args.mix)
    names = [m[0] for m in mix]
    weights = [m[1] for m in mix]
    rng = random.Random(args.seed)
    rng_id = random.Random(args.seed + 1_000_003)
    spans = [] if args.trace_dir else None
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.05
        wall0 = time.time_ns() + 50_000_000
        busy0 = machine_busy_s()
        tasks = []
        t = 0.0
        while len(tasks) < args.max_requests:
            t += rng.expovariate(args.rate)
            if t > args.duration:
                break
            route = rng.choices(names, weights)[0]
            delay = t0 + t - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(
                one(session, args, route, t, t0, wall0, rng_id, spans)))
        records = await asyncio.gather(*tasks)
        busy = machine_busy_s() - busy0
    return records, spans, busy


def main(argv):
    global EVENTS
    args = parse_args(argv)
    if args.events_out:
        EVENTS = []
    before = resource.getrusage(resource.RUSAGE_SELF)
    selector = TimedSelector() if args.wakeups_out else None
    if selector is None:
        records, spans, machine_busy = asyncio.run(run(args))
    else:
        loop = asyncio.SelectorEventLoop(selector)
        try:
            records, spans, machine_busy = loop.run_until_complete(run(args))
        finally:
            loop.close()
    after = resource.getrusage(resource.RUSAGE_SELF)
    if EVENTS is not None:
        with open(args.events_out + ".tmp", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["wall_s", "cpu_s", "event"])
            w.writerows((f"{t:.7f}", f"{c:.7f}", k) for t, c, k in EVENTS)
        os.replace(args.events_out + ".tmp", args.events_out)
    if selector is not None:
        with open(args.wakeups_out + ".tmp", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["slept_ms", "cpu_ms", "events"])
            w.writerows((f"{s * 1e3:.4f}", f"{c * 1e3:.4f}", n) for s, c, n in selector.rows)
        os.replace(args.wakeups_out + ".tmp", args.wakeups_out)
    if args.machine_cpu_out:
        with open(args.machine_cpu_out, "w") as f:
            f.write(f"{machine_busy}\n")
    if args.cpu_out:
        with open(args.cpu_out, "w") as f:
            f.write(f"{(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}\n")
    tmp = args.out + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["route", "scheduled_s", "latency_ms", "status", "lag_ms"])
        for route, scheduled, latency, status, lag in records:
            w.writerow([route, f"{scheduled:.6f}", f"{latency:.3f}", status, f"{lag:.3f}"])
    os.replace(tmp, args.out)
    if spans is not None:
        with open(os.path.join(args.trace_dir, f"client-{os.getpid()}.jsonl"), "a") as f:
            for i in range(0, len(spans), 500):
                f.write(json.dumps(spans[i:i + 500], separators=(",", ":")) + "\n")
    ok = sum(1 for r in records if 200 <= r[3] < 400)
    lat = sorted(r[2] for r in records if 200 <= r[3] < 400)
    if lat:
        print(f"{len(records)} requests, {ok} ok; mean {sum(lat) / len(lat):.2f} ms, "
              f"p99 {lat[min(len(lat) - 1, int(0.99 * len(lat)))]:.2f} ms", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
