"""The reality check: run the gateway → user/order system for real, calibrate a meshsim model
from its traces at a low load, then hold meshsim's predictions against measurements at higher
loads. Started by `reality/check` (which sets up the virtual environment); see README.md.

Nothing here is tuned against the measured results: the model is `meshsim import`'s, given only
the deployment's known configuration (workers per service, sync workers = blocking).
"""

import argparse
import csv
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICES = os.path.join(HERE, "services")
REPO = os.path.dirname(HERE)

# The deployment: gunicorn sync workers per service (a sync worker serves one request at a
# time and stays held while its handler waits for a downstream answer: blocking).
WORKERS = {"gateway": 4, "user": 2, "order": 2}
# What the model is told about it; the imported service names (`gateway` becomes
# `gateway_service` because meshsim's gateway stands for the traced clients).
KNOWN = [
    "name=gateway-user-order-real",
    "services.gateway_service.workers=4", "services.gateway_service.blocking=true",
    "services.user.workers=2", "services.user.blocking=true",
    "services.order.workers=2", "services.order.blocking=true",
]

# The second scenario (--overload): the same deployment past saturation, told to defend itself.
# The gateway's listen backlog is bounded (gunicorn --backlog: a connection that finds it full
# is dropped by the kernel, and the client's SYN is not retried before 1 s, past the client's
# timeout), and the gateway gives each downstream call 30 ms and tries it up to 3 times (the
# timeout and retries of `services/gateway.py`). Chosen before any measurement; the model is
# told the same configuration and nothing else.
OVERLOAD = dict(backlog=32, timeout_s=0.03, attempts=3, client_timeout_s=1.0)
OVERLOAD_KNOWN = [
    # Linux's accept queue is full when more than `backlog` connections wait: backlog + 1 fit.
    f"services.gateway_service.queue_capacity={OVERLOAD['backlog'] + 1}",
    f"services.gateway_service.client.timeout_ms={OVERLOAD['timeout_s'] * 1e3:g}",
    # `requests` retries at once: no backoff.
    f"services.gateway_service.client.retry={{ max_attempts = {OVERLOAD['attempts']}, "
    'backoff = "constant", base_ms = 0, jitter = "none" }',
    f"workload.deadline_ms={OVERLOAD['client_timeout_s'] * 1e3:g}",
]

MODES = {
    # calibration requests, loads (fractions of the model's saturation rate), seconds per load,
    # seconds of each load's start left out, simulation replications, seconds of the
    # recalibration at the calibration rate before each load, seconds of the highest load
    # (near capacity a mean converges slowest)
    # (and with --overload, the loads of the second scenario, past saturation)
    "quick": dict(calibrate=3000, loads=[0.2, 0.35, 0.5, 0.65, 0.8], seconds=26, warmup=3,
                  reps=5, recalibrate=8, top_seconds=60, overload=[0.9, 1.2, 1.5]),
    "full": dict(calibrate=10000, loads=[0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], seconds=90,
                 warmup=5, reps=10, recalibrate=20, top_seconds=180,
                 overload=[0.8, 1.0, 1.2, 1.4, 1.7, 2.0]),
    # the CI smoke test: every step at a tiny scale, nothing asserted about accuracy
    "smoke": dict(calibrate=150, loads=[0.2, 0.5], seconds=3, warmup=0.5, reps=2,
                  recalibrate=1, top_seconds=3, overload=[1.5]),
}


def say(*a):
    print(*a, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class System:
    """The three services, each a gunicorn master with its sync workers, on 127.0.0.1.

    Each master runs in its own session, so `stop` can end it and its workers whatever
    happened; `stop` is safe to call twice and is called on every way out of the check."""

    def __init__(self, venv, trace_dir, log_dir, env=None, backlog=None):
        self.venv = venv
        self.trace_dir = trace_dir
        self.log_dir = log_dir
        # the gateway's environment (its timeout and retries) and listen backlog
        self.env = env or {}
        self.backlog = backlog
        self.procs = []
        self.ports = {}

    def start(self):
        self.ports = {name: free_port() for name in ("gateway", "user", "order")}
        os.makedirs(self.trace_dir, exist_ok=True)
        os.makedirs(self.log_dir, exist_ok=True)
        for name in ("user", "order", "gateway"):
            env = dict(os.environ, PORT=str(self.ports[name]), TRACE_DIR=self.trace_dir,
                       USER_URL=f"http://127.0.0.1:{self.ports['user']}",
                       ORDER_URL=f"http://127.0.0.1:{self.ports['order']}",
                       **(self.env if name == "gateway" else {}))
            log = open(os.path.join(self.log_dir, f"{name}.log"), "a")
            cmd = [os.path.join(self.venv, "bin", "gunicorn"), "--workers", str(WORKERS[name]),
                   "--worker-class", "sync", "--bind", f"127.0.0.1:{self.ports[name]}",
                   "--chdir", SERVICES, "--config", os.path.join(SERVICES, "gunicorn_conf.py"),
                   "--log-level", "warning", "--graceful-timeout", "5"]
            if name == "gateway" and self.backlog is not None:
                cmd += ["--backlog", str(self.backlog)]
            cmd.append(f"{name}:app")
            self.procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=log,
                                               start_new_session=True))
        deadline = time.time() + 30
        for name, port in self.ports.items():
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                        break
                except OSError:
                    if time.time() > deadline or any(p.poll() is not None for p in self.procs):
                        raise RuntimeError(f"{name} did not become healthy on port {port}; "
                                           f"see {self.log_dir}/{name}.log")
                    time.sleep(0.1)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            # Workers of a master that died first are in the same process group.
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.procs = []
        busy = [port for port in self.ports.values() if port_in_use(port)]
        if busy:
            raise RuntimeError(f"ports still bound after stopping the services: {busy}")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu_s(pgid):
    """CPU seconds (user + system) spent so far by the processes of process group `pgid`."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def machine_busy_s():
    """Busy CPU seconds of the whole machine so far, and the elapsed CPU seconds (all cores)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / CLOCK_TICKS, sum(v) / CLOCK_TICKS


def run(cmd, **kw):
    """Runs a command, echoing it; fails the check if it fails."""
    say("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kw)


LOADGEN = os.path.join(HERE, "loadgen", "target", "release", "loadgen")


def loadgen(url, rate, seconds, requests, seed, out, trace_dir, cpu_out=None, timeout_s=10.0):
    """Runs the load generator (`loadgen/`, built by `reality/check`); returns the machine's busy
    CPU seconds from its first send to its last response (the generator's start-up left out)."""
    cmd = [LOADGEN, "--url", url,
           "--rate", f"{rate:.3f}", "--duration", f"{seconds:.3f}", "--max-requests",
           str(requests), "--seed", str(seed), "--out", out, "--trace-dir", trace_dir,
           "--timeout", f"{timeout_s:g}", "--machine-cpu-out", out + ".machine"]
    if cpu_out:
        cmd += ["--cpu-out", cpu_out]
    run(cmd)
    with open(out + ".machine") as f:
        busy = float(f.read())
    os.remove(out + ".machine")
    return busy


def span_cpu_ms(trace_dir, after_us=0.0, before_us=math.inf):
    """Mean CPU per call of each service, from its server spans' `cpu_ms` tags (of the spans
    that started in [after_us, before_us), µs since the epoch)."""
    sums = {}
    for name in os.listdir(trace_dir):
        with open(os.path.join(trace_dir, name)) as f:
            for line in f:
                for span in json.loads(line):
                    cpu = span.get("tags", {}).get("cpu_ms")
                    if span.get("kind") == "SERVER" and cpu is not None \
                            and after_us <= span["timestamp"] < before_us:
                        s = sums.setdefault(span["localEndpoint"]["serviceName"], [0.0, 0])
                        s[0] += float(cpu)
                        s[1] += 1
    return {k: v[0] / v[1] for k, v in sums.items()}


GAP_BINS_MS = [0, 0.3, 1, 3, 10, 30, 100, float("inf")]


def gap_bin(b):
    """The bin `b` of GAP_BINS_MS as text: `1–3 ms`, `≥ 100 ms`."""
    lo, hi = GAP_BINS_MS[b], GAP_BINS_MS[b + 1]
    return f"≥ {lo:g} ms" if hi == float("inf") else f"{lo:g}–{hi:g} ms"


def worker_gaps(trace_dir):
    """Each service's calls as (how long its worker sat idle before, ms; the call's CPU, ms):
    the gap from the end of the worker's previous server span, by the spans' `process.pid`.
    A worker's first call has no gap and is left out."""
    by_worker = {}
    for name in os.listdir(trace_dir):
        with open(os.path.join(trace_dir, name)) as f:
            for line in f:
                for span in json.loads(line):
                    tags = span.get("tags", {})
                    if span.get("kind") == "SERVER" and "cpu_ms" in tags \
                            and "process.pid" in tags:
                        key = (span["localEndpoint"]["serviceName"], tags["process.pid"])
                        by_worker.setdefault(key, []).append(
                            (span["timestamp"], span["duration"], float(tags["cpu_ms"])))
    out = {}
    for (service, _), spans in sorted(by_worker.items()):
        spans.sort()
        out.setdefault(service, []).extend(
            ((span[0] - before[0] - before[1]) / 1e3, span[2])
            for before, span in zip(spans, spans[1:]))
    return out


TAUS_MS = [0.2, 0.5, 1, 1.5, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50, 100]


def fit_after_idle(pairs):
    """Fits CPU per call = warm + extra · (1 − e^(−gap/tau)) to (gap ms, CPU ms) pairs by least
    squares (tau over TAUS_MS): meshsim's `cpu_after_idle`. Returns (warm, extra, tau), or
    None when a call after a long idle costs no more than a warm one (or too few calls)."""
    if len(pairs) < 50:
        return None
    best = None
    ys = [c for _, c in pairs]
    my = sum(ys) / len(ys)
    for tau in TAUS_MS:
        xs = [-math.expm1(-g / tau) for g, _ in pairs]
        mx = sum(xs) / len(xs)
        sxx = sum((x - mx) ** 2 for x in xs)
        if sxx <= 0:
            continue
        extra = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
        warm = my - extra * mx
        sse = sum((y - warm - extra * x) ** 2 for x, y in zip(xs, ys))
        if best is None or sse < best[0]:
            best = (sse, warm, extra, tau)
    if best is None or best[2] <= 0 or best[1] <= 0:
        return None
    return best[1], best[2], best[3]


def cpu_by_idle_gap(trace_dir, out_csv):
    """CPU per call of each service against how long its worker sat idle before the call, in
    the bins of GAP_BINS_MS; written to `out_csv`, returned as {service: [(bin, calls, ms)]}.
    Caches cool while a worker idles: what the model's `cpu_after_idle` stands for."""
    sums = {}
    for service, pairs in worker_gaps(trace_dir).items():
        for gap_ms, cpu_ms in pairs:
            b = next(i for i in range(len(GAP_BINS_MS) - 1) if gap_ms < GAP_BINS_MS[i + 1])
            acc = sums.setdefault(service, {}).setdefault(b, [0, 0.0])
            acc[0] += 1
            acc[1] += cpu_ms
    table = {k: [(b, n, total / n) for b, (n, total) in sorted(v.items())]
             for k, v in sorted(sums.items())}
    with open(out_csv, "w", newline="") as w:
        writer = csv.writer(w)
        writer.writerow(["service", "gap_from_ms", "gap_to_ms", "calls", "cpu_ms_per_call"])
        for service, rows in table.items():
            for b, n, ms in rows:
                writer.writerow([service, f"{GAP_BINS_MS[b]:g}", f"{GAP_BINS_MS[b + 1]:g}", n,
                                 f"{ms:.4f}"])
    return table


def calibrate_cpu(args, system, n, out):
    """Traces `n` requests at the calibration rate and measures what they cost in CPU: per call
    of each service (its processes' CPU time, less what they burn idle, over the calls it
    served), per request of the load generator, and the machine's own background load. These
    are measurements of the deployment, made once at the calibration load; returns the
    `meshsim import` arguments that state them (all on one host of this machine's cores)."""
    groups = {name: p.pid for name, p in zip(("user", "order", "gateway"), system.procs)}
    # The first worker answering /health does not mean all have booted (importing Flask costs
    # CPU): let them settle before measuring what the idle services burn.
    time.sleep(3.0)
    idle_s = 3.0
    busy0, all0 = machine_busy_s()
    cpu0 = {k: group_cpu_s(g) for k, g in groups.items()}
    time.sleep(idle_s)
    busy1, all1 = machine_busy_s()
    cpu1 = {k: group_cpu_s(g) for k, g in groups.items()}
    idle = {k: (cpu1[k] - cpu0[k]) / idle_s for k in groups}
    cores = os.cpu_count() or 1
    background = max(0.0, (busy1 - busy0) / (all1 - all0) * cores)
    # A model's background must leave some of a host's cores free; a machine busy with other
    # work (a build beside the check) can measure all of them busy.
    if background > 0.9 * cores:
        say(f"warning: other work kept {background:.2f} of {cores} cores busy while the services "
            f"idled; the model takes {0.9 * cores:.2f} and the comparison will be poor: run the "
            "check on a quiet machine")
        background = 0.9 * cores
    started = time.time()
    requests_csv = os.path.join(out, "calibrate.csv")
    cpu_file = os.path.join(out, "calibrate-loadgen-cpu.txt")
    busy = loadgen(system.url, args.calibrate_rate, 1.5 * n / args.calibrate_rate, n,
                   1, requests_csv, system.trace_dir, cpu_file)
    elapsed = time.time() - started
    args.machine_ms = machine_ms_per_request(busy, requests_csv)
    cpu2 = {k: group_cpu_s(g) for k, g in groups.items()}
    with open(requests_csv) as f:
        routes = [row["route"] for row in csv.DictReader(f)]
    calls = {"gateway": len(routes),
             "user": sum(r.startswith("GET /user") for r in routes),
             "order": sum(r.startswith("POST /order") for r in routes)}
    # What the whole processes spent (less their idle burn) over the calls, for comparison:
    # it also counts the wake-ups of idle sync workers racing to accept each connection, a
    # cost that fades as the workers get busy.
    accounted = {k: max(0.0, cpu2[k] - cpu1[k] - idle[k] * elapsed) / max(1, calls[k]) * 1e3
                 for k in groups}
    # Per call: the CPU each server span saw its worker spend (the `cpu_ms` tag).
    per_call = span_cpu_ms(system.trace_dir)
    say("== CPU per call from the processes' accounting: " + ", ".join(
        f"{k} {v:.3f} ms" for k, v in accounted.items()))
    with open(cpu_file) as f:
        client = float(f.read()) / max(1, len(routes)) * 1e3
    args.client_ms = client
    model_name = {"gateway": "gateway_service", "user": "user", "order": "order"}
    gaps = cpu_by_idle_gap(system.trace_dir, os.path.join(out, "cpu-gaps.csv"))
    say("== CPU per call by the worker's idle gap before it (cpu-gaps.csv): " + "; ".join(
        f"{k} " + ", ".join(f"{gap_bin(b)} {ms:.2f}" for b, _, ms in rows)
        for k, rows in gaps.items()))
    say("== CPU per call at calibration: " + ", ".join(
        f"{k} {v:.3f} ms" for k, v in per_call.items())
        + f"; load generator {client:.3f} ms per request; machine background "
        f"{background:.3f} of {cores} cores")
    sets = [f"hosts.machine.cores={cores}", f"hosts.machine.background_cores={background:.4f}",
            # The clients: the generator sends each request from its own thread, so their CPU
            # work on different requests can run at once.
            "gateway.host=machine", "gateway.workers=64"]
    sets += [f"services.{model_name[k]}.host=machine" for k in groups]
    # A warm call's CPU and what idling adds, fitted to the calls' CPU against their worker's
    # idle gap (the model then charges each call by its own worker's gap, at every load).
    after_idle = []
    if args.cpu_after_idle:
        for k, pairs in sorted(worker_gaps(system.trace_dir).items()):
            fit = fit_after_idle(pairs)
            if k not in model_name or fit is None:
                continue
            warm, extra, tau = fit
            # The fit's warm cost stays at or under the mean it was fitted to.
            warm = min(warm, per_call[k])
            after_idle.append(f"{model_name[k]}={warm:.4f},{extra:.4f},{tau:g}")
            say(f"== {k}: a warm call {warm:.3f} ms of CPU, {extra:.3f} ms more after a long "
                f"idle, cooling in {tau:g} ms (cpu_after_idle; the mean call {per_call[k]:.3f})")
    cpu = [f"{model_name[k]}={v:.4f}" for k, v in per_call.items()] + [f"gateway={client:.4f}"]
    return ([x for c in cpu for x in ("--cpu", c)]
            + [x for c in after_idle for x in ("--cpu-after-idle", c)]
            + [x for k in sets for x in ("--set", k)])


def saturation(args, model, analytic=False):
    """`meshsim predict --saturation`: the rate from which the model's backlog grows, found by
    simulating it; with `analytic`, the instant bound that holds every blocking worker for its
    calls' response times at the model's own (calibration's) load — near capacity the calls
    they wait for queue and the cores are shared by more work, so the bound is too high (here
    by 15%), and loads named as fractions of it sit closer to saturation than they say."""
    return float(subprocess.run(
        [args.meshsim, "predict", model, "--saturation"] + (["--analytic"] if analytic else []),
        check=True, capture_output=True, text=True).stdout.split()[0])


def machine_ms_per_request(busy_s, requests_csv):
    """The whole machine's busy CPU over a run, per request the run sent (ms): every process,
    the kernel's network work included, whoever it was charged to."""
    with open(requests_csv) as f:
        n = sum(1 for _ in csv.DictReader(f))
    return busy_s / max(1, n) * 1e3


class Load:
    """What one load measured beside its requests: CPU per call of each service from its spans
    and the generator's per request (`client`), the whole machine's per request, and, when it
    was recalibrated, the same CPU per call at the calibration rate just before it."""

    def __init__(self, cpu, machine, recalibrated):
        self.cpu = cpu
        self.machine = machine
        self.recalibrated = recalibrated


def generator_ms(cpu_file, requests_csv):
    """The generator's CPU per request (ms), from its --cpu-out file (removed)."""
    with open(cpu_file) as f:
        client_s = float(f.read())
    os.remove(cpu_file)
    return machine_ms_per_request(client_s, requests_csv)


def measure(args, mode, system, rate, seconds, seed, out_csv):
    """One load: fresh services, Poisson arrivals at `rate` for `seconds`; before it,
    unless --no-recalibrate, the same services at the calibration rate for the mode's
    `recalibrate` seconds (what the CPU per call is on this machine just now)."""
    system.start()
    cpu_file = out_csv + ".cpu"
    recalibrated = None
    try:
        if args.recalibrate:
            recal_csv = out_csv + ".recalibrate.csv"
            loadgen(system.url, args.calibrate_rate, mode["recalibrate"], 10_000_000,
                    seed + 500, recal_csv, system.trace_dir, cpu_file)
            boundary_us = time.time() * 1e6
            recalibrated = span_cpu_ms(system.trace_dir, before_us=boundary_us)
            recalibrated["client"] = generator_ms(cpu_file, recal_csv)
            os.remove(recal_csv)
        else:
            boundary_us = 0.0
        busy = loadgen(system.url, rate, seconds, 10_000_000, seed, out_csv,
                       system.trace_dir, cpu_file,
                       timeout_s=OVERLOAD["client_timeout_s"] if args.overload else 10.0)
    finally:
        system.stop()
    cpu = span_cpu_ms(system.trace_dir, after_us=boundary_us)
    cpu["client"] = generator_ms(cpu_file, out_csv)
    return Load(cpu, machine_ms_per_request(busy, out_csv), recalibrated)


TRACED = {"gateway_service": "gateway", "user": "user", "order": "order"}


def read_model(model):
    import tomllib
    with open(model, "rb") as f:
        return tomllib.load(f)


def sets_at_load(doc, cpu):
    """The diagnostic's overrides: the CPU per call measured *at the load itself* (its spans'
    `cpu_ms`, the generator's CPU per request)."""
    sets = [f"gateway.cpu_ms={cpu['client']:.4f}"]
    for name, service in doc.get("services", {}).items():
        for endpoint, e in service.get("endpoints", {}).items():
            if "cpu_ms" in e and TRACED.get(name) in cpu:
                sets.append(f"services.{name}.endpoints.{endpoint}.cpu_ms="
                            f"{cpu[TRACED[name]]:.4f}")
        # The mean measured at the load already holds what idling cost there.
        if "cpu_after_idle" in service:
            sets.append(f"services.{name}.cpu_after_idle.extra_ms=0")
    return sets


def sets_recalibrated(doc, recalibrated, calibrated):
    """The prediction's overrides for one load: every CPU value of the model (a call's, what
    idling adds to it, the clients') scaled by how the CPU per call at the calibration rate just
    before the load compares with calibration's — this machine's speed at the time, measured
    at the calibration load, not at the load predicted."""
    client = doc["gateway"].get("cpu_ms", 0) * recalibrated["client"] / calibrated["client"]
    sets = [f"gateway.cpu_ms={client:.4f}"]
    for name, service in doc.get("services", {}).items():
        traced = TRACED.get(name)
        if traced not in recalibrated or not calibrated.get(traced):
            continue
        scale = recalibrated[traced] / calibrated[traced]
        for endpoint, e in service.get("endpoints", {}).items():
            if "cpu_ms" in e:
                sets.append(f"services.{name}.endpoints.{endpoint}.cpu_ms="
                            f"{e['cpu_ms'] * scale:.4f}")
        if "cpu_after_idle" in service:
            sets.append(f"services.{name}.cpu_after_idle.extra_ms="
                        f"{service['cpu_after_idle']['extra_ms'] * scale:.4f}")
    return sets


def predict_per_load(args, mode, model, measured_csv, sets_by_rate, out, name):
    """Simulates each load of `measured_csv` with its own overrides of the model (`meshsim
    predict` once per load) and writes the merged `name.csv` (the columns of reality.csv) and
    `name.md` into `out`; prints the table."""
    work = os.path.join(out, name + "-work")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    with open(measured_csv) as f:
        rows = list(csv.reader(f))
    header, tables, merged = rows[0], [], []
    for rate, sets in sets_by_rate.items():
        one = os.path.join(work, f"rate-{rate:g}")
        os.makedirs(one)
        with open(os.path.join(one, "measured.csv"), "w", newline="") as w:
            writer = csv.writer(w)
            writer.writerow(header)
            writer.writerows(r for r in rows[1:] if r[0] == f"{rate:g}")
        subprocess.run([args.meshsim, "predict", model, "--measured",
                        os.path.join(one, "measured.csv"), "--warmup-s", str(mode["warmup"]),
                        "--reps", str(mode["reps"]), "--out", one, "--no-charts", "-q"]
                       + [x for k in sets for x in ("--set", k)], check=True)
        with open(os.path.join(one, "reality.csv")) as f:
            lines = f.read().splitlines()
        merged += lines if not merged else lines[1:]
        with open(os.path.join(one, "reality.md")) as f:
            lines = f.read().splitlines()
        tables += lines if not tables else lines[2:]
    for file, lines in ((name + ".csv", merged), (name + ".md", tables)):
        with open(os.path.join(out, file + ".tmp"), "w") as w:
            w.write("\n".join(lines) + "\n")
        os.replace(os.path.join(out, file + ".tmp"), os.path.join(out, file))
    shutil.rmtree(work)
    say("\n".join(tables))
    say(f"wrote {out}/{name}.csv and .md")


def predict(args, mode, model, combined, calibrated, loads, out):
    """Step 4: the prediction (`reality.csv`, `.md`, the chart, `report.html`) and, beside it,
    the same loads with calibration's CPU alone and with the CPU each load measured."""
    doc = read_model(model)
    if args.recalibrate:
        say("== predict: each load with the model's CPU scaled by the recalibration before it")
        predict_per_load(args, mode, model, combined, {
            rate: sets_recalibrated(doc, load.recalibrated, calibrated)
            for rate, load in loads.items()}, out, "reality")
        subprocess.run([args.meshsim, "plot", out], check=True, stdout=subprocess.DEVNULL)
        say(f"wrote {out}/reality.png, .svg and report.html")
        say("== the same loads with calibration's CPU alone (no recalibration)")
        predict_per_load(args, mode, model, combined, {rate: [] for rate in loads}, out,
                         "reality-one-calibration")
    else:
        say("== predict")
        run([args.meshsim, "predict", model, "--measured", combined, "--warmup-s",
             str(mode["warmup"]), "--reps", str(mode["reps"]), "--out", out])
    if not args.no_cpu:
        # Not a prediction (it uses what each load itself measured): it tells an error of the
        # CPU demand from an error of the model's structure.
        say("== the same loads with the CPU per call measured at each load (a diagnostic)")
        predict_per_load(args, mode, model, combined, {
            rate: sets_at_load(doc, load.cpu) for rate, load in loads.items()}, out,
            "reality-cpu-at-load")


def main(argv):
    p = argparse.ArgumentParser(prog="reality/check", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="under 5 minutes (the README's run)")
    p.add_argument("--smoke", action="store_true", help="tiny scale, for CI: no accuracy")
    p.add_argument("--out", required=True, help="folder for the model, data, CSV and chart")
    p.add_argument("--venv", required=True)
    p.add_argument("--meshsim", required=True)
    p.add_argument("--calibrate-rate", type=float, default=85.0,
                   help="req/s of the calibration run (about 25%% of capacity), default 85")
    p.add_argument("--overload", action="store_true",
                   help="the second scenario: past saturation, with a bounded backlog and a "
                   "timeout with retries at the gateway")
    p.add_argument("--no-cpu", action="store_true",
                   help="leave the measured CPU out of the model (no CPU sharing on the host)")
    p.add_argument("--no-cpu-after-idle", dest="cpu_after_idle", action="store_false",
                   help="leave out what a call costs more after its worker idled: the model's "
                   "CPU per call is then calibration's mean, whatever the load")
    p.add_argument("--no-recalibrate", dest="recalibrate", action="store_false",
                   help="predict every load from calibration's CPU alone, without measuring "
                   "the CPU per call at the calibration rate again just before each load")
    p.add_argument("--keep-traces", action="store_true",
                   help="keep the traces of the measured loads (the calibration's are kept)")
    args = p.parse_args(argv)
    args.recalibrate = args.recalibrate and not args.no_cpu
    args.cpu_after_idle = args.cpu_after_idle and not args.no_cpu
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    for d in ("traces", "measured", "logs"):
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)
    logs = os.path.join(out, "logs")
    started = time.time()

    # 1–2. Calibrate: trace a low load, import the traces.
    calib = System(args.venv, os.path.join(out, "traces", "calibrate"), logs)
    systems = [calib]

    def stop_all(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_all)
    try:
        n = mode["calibrate"]
        say(f"== calibrate: {n} requests at {args.calibrate_rate:g} req/s, traced")
        calib.start()
        try:
            cpu = calibrate_cpu(args, calib, n, out)
        finally:
            calib.stop()
        model = os.path.join(out, "model.toml")
        known = KNOWN + (OVERLOAD_KNOWN if args.overload else [])
        run([args.meshsim, "import", calib.trace_dir, "--out", model]
            + [x for k in known for x in ("--set", k)] + ([] if args.no_cpu else cpu))
        bound = saturation(args, model, analytic=True)
        # With --overload the model refuses and times out instead of queueing without bound:
        # its loads are multiples of the bound (the plateau is what the scenario measures).
        capacity = bound if args.overload else saturation(args, model)
        loads = mode["overload"] if args.overload else mode["loads"]
        rates = [round(f * capacity, 1) for f in loads]
        how = ("its analytic bound" if args.overload else
               f"by simulation; the analytic bound, every holding time at calibration's load, "
               f"{bound:.1f}")
        say(f"== the imported model saturates at {capacity:.1f} req/s ({how}); measuring at "
            + ", ".join(f"{r:g}" for r in rates) + " req/s")

        # 3. Measure each load on fresh services (traced as in calibration: same overhead).
        measured = os.path.join(out, "measured")
        os.makedirs(measured)
        load_traces = os.path.join(out, "traces", "loads")
        if args.overload:
            system = System(args.venv, load_traces, logs, backlog=OVERLOAD["backlog"], env={
                "GATEWAY_TIMEOUT_S": str(OVERLOAD["timeout_s"]),
                "GATEWAY_RETRIES": str(OVERLOAD["attempts"] - 1)})
        else:
            system = System(args.venv, load_traces, logs)
        systems.append(system)
        files = []
        # CPU per call at each load, from the spans, beside calibration's: whether the machine
        # (or the services) changed speed between calibration and measurement.
        cpu_rows = [("calibration", args.calibrate_rate, k, v)
                    for k, v in sorted(span_cpu_ms(calib.trace_dir).items())]
        cpu_rows.append(("calibration", args.calibrate_rate, "client", args.client_ms))
        cpu_rows.append(("calibration", args.calibrate_rate, "machine", args.machine_ms))
        calibrated = dict(span_cpu_ms(calib.trace_dir), client=args.client_ms)
        loads = {}
        for i, rate in enumerate(rates):
            last = i == len(rates) - 1 and not args.overload
            seconds = mode["top_seconds"] if last else mode["seconds"]
            say(f"== load {i + 1}/{len(rates)}: {rate:g} req/s for {seconds:g} s"
                + (f", after {mode['recalibrate']:g} s at {args.calibrate_rate:g} req/s "
                   "(recalibration)" if args.recalibrate else ""))
            f = os.path.join(measured, f"rate-{rate:g}.csv")
            system.trace_dir = os.path.join(load_traces, f"rate-{rate:g}")
            load = measure(args, mode, system, rate, seconds, 100 + i, f)
            files.append((rate, f))
            loads[rate] = load
            if load.recalibrated:
                cpu_rows += [("recalibration", rate, k, v)
                             for k, v in sorted(load.recalibrated.items())]
                say("   CPU per call at the calibration rate just before: " + ", ".join(
                    f"{k} {v:.3f} ms ({v / calibrated[k] - 1:+.1%} on calibration)"
                    for k, v in sorted(load.recalibrated.items()) if calibrated.get(k)))
            cpu_rows += [("load", rate, k, v) for k, v in sorted(load.cpu.items())]
            cpu_rows.append(("load", rate, "machine", load.machine))
            say("   CPU per call at the load (spans): " + ", ".join(
                f"{k} {v:.3f} ms" for k, v in sorted(load.cpu.items()))
                + f"; the whole machine per request {load.machine:.3f} ms "
                f"(at calibration {args.machine_ms:.3f})")
        with open(os.path.join(out, "cpu.csv"), "w", newline="") as w:
            writer = csv.writer(w)
            writer.writerow(["phase", "rate_rps", "service", "cpu_ms_per_call"])
            writer.writerows((p, f"{r:g}", k, f"{v:.4f}") for p, r, k, v in cpu_rows)
        if not args.keep_traces:
            shutil.rmtree(load_traces, ignore_errors=True)
        combined = os.path.join(out, "measured.csv")
        with open(combined + ".tmp", "w", newline="") as w:
            writer = csv.writer(w)
            writer.writerow(["rate_rps", "route", "scheduled_s", "latency_ms", "status",
                             "lag_ms"])
            for rate, f in files:
                with open(f) as r:
                    rows = csv.reader(r)
                    next(rows)
                    for row in rows:
                        writer.writerow([f"{rate:g}"] + row)
        os.replace(combined + ".tmp", combined)

        # 4. Predict each load with the imported model and compare.
        predict(args, mode, model, combined, calibrated, loads, out)
        say(f"== done in {time.time() - started:.0f} s: {out}/reality.csv")
    except KeyboardInterrupt:
        say("interrupted: stopping the services")
        return 130
    except (subprocess.CalledProcessError, RuntimeError) as e:
        say(f"error: {e}")
        return 1
    finally:
        for s in systems:
            try:
                s.stop()
            except RuntimeError as e:
                say(f"error: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
