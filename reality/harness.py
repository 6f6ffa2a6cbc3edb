"""The reality check: run the gateway → user/order system for real, calibrate a meshsim model
from its traces at a low load, then hold meshsim's predictions against measurements at higher
loads. Started by `reality/check` (which sets up the virtual environment); see README.md.

Nothing here is tuned against the measured results: the model is `meshsim import`'s, given only
the deployment's known configuration (workers per service, sync workers = blocking).
"""

import argparse
import csv
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
    "services.gateway_service.workers=4", "services.gateway_service.blocking=true",
    "services.user.workers=2", "services.user.blocking=true",
    "services.order.workers=2", "services.order.blocking=true",
]

MODES = {
    # calibration requests, loads (fractions of the model's saturation rate), seconds per load,
    # seconds of each load's start left out, simulation replications
    "quick": dict(calibrate=3000, loads=[0.2, 0.35, 0.5, 0.65, 0.8], seconds=26, warmup=3,
                  reps=5),
    "full": dict(calibrate=10000, loads=[0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], seconds=90,
                 warmup=5, reps=10),
    # the CI smoke test: every step at a tiny scale, nothing asserted about accuracy
    "smoke": dict(calibrate=150, loads=[0.2, 0.5], seconds=3, warmup=0.5, reps=2),
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

    def __init__(self, venv, trace_dir, log_dir, env=None):
        self.venv = venv
        self.trace_dir = trace_dir
        self.log_dir = log_dir
        self.env = env or {}
        self.procs = []
        self.ports = {}

    def start(self):
        self.ports = {name: free_port() for name in ("gateway", "user", "order")}
        os.makedirs(self.trace_dir, exist_ok=True)
        os.makedirs(self.log_dir, exist_ok=True)
        for name in ("user", "order", "gateway"):
            env = dict(os.environ, PORT=str(self.ports[name]), TRACE_DIR=self.trace_dir,
                       USER_URL=f"http://127.0.0.1:{self.ports['user']}",
                       ORDER_URL=f"http://127.0.0.1:{self.ports['order']}", **self.env)
            log = open(os.path.join(self.log_dir, f"{name}.log"), "a")
            cmd = [os.path.join(self.venv, "bin", "gunicorn"), "--workers", str(WORKERS[name]),
                   "--worker-class", "sync", "--bind", f"127.0.0.1:{self.ports[name]}",
                   "--chdir", SERVICES, "--config", os.path.join(SERVICES, "gunicorn_conf.py"),
                   "--log-level", "warning", "--graceful-timeout", "5",
                   f"{name}:app"]
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


def run(cmd, **kw):
    """Runs a command, echoing it; fails the check if it fails."""
    say("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def loadgen(venv, url, rate, seconds, requests, seed, out, trace_dir):
    cmd = [os.path.join(venv, "bin", "python"), os.path.join(HERE, "loadgen.py"), "--url", url,
           "--rate", f"{rate:.3f}", "--duration", f"{seconds:.3f}", "--max-requests",
           str(requests), "--seed", str(seed), "--out", out, "--trace-dir", trace_dir]
    run(cmd)


def measure(args, mode, system, rate, seed, out_csv):
    """One load: fresh services, Poisson arrivals at `rate` for the mode's seconds."""
    system.start()
    try:
        loadgen(args.venv, system.url, rate, mode["seconds"], 10_000_000, seed, out_csv,
                system.trace_dir)
    finally:
        system.stop()


def main(argv):
    p = argparse.ArgumentParser(prog="reality/check", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="under 5 minutes (the README's run)")
    p.add_argument("--smoke", action="store_true", help="tiny scale, for CI: no accuracy")
    p.add_argument("--out", required=True, help="folder for the model, data, CSV and chart")
    p.add_argument("--venv", required=True)
    p.add_argument("--meshsim", required=True)
    p.add_argument("--calibrate-rate", type=float, default=60.0,
                   help="req/s of the calibration run (about 25%% of capacity), default 60")
    p.add_argument("--keep-traces", action="store_true",
                   help="keep the traces of the measured loads (the calibration's are kept)")
    args = p.parse_args(argv)
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
            loadgen(args.venv, calib.url, args.calibrate_rate, 1.5 * n / args.calibrate_rate, n,
                    1, os.path.join(out, "calibrate.csv"), calib.trace_dir)
        finally:
            calib.stop()
        model = os.path.join(out, "model.toml")
        run([args.meshsim, "import", calib.trace_dir, "--out", model]
            + [x for k in KNOWN for x in ("--set", k)])
        saturation = float(subprocess.run(
            [args.meshsim, "predict", model, "--saturation"], check=True,
            capture_output=True, text=True).stdout.split()[0])
        rates = [round(f * saturation, 1) for f in mode["loads"]]
        say(f"== the imported model saturates at {saturation:.1f} req/s; measuring at "
            + ", ".join(f"{r:g}" for r in rates) + " req/s")

        # 3. Measure each load on fresh services (traced as in calibration: same overhead).
        measured = os.path.join(out, "measured")
        os.makedirs(measured)
        load_traces = os.path.join(out, "traces", "loads")
        system = System(args.venv, load_traces, logs)
        systems.append(system)
        files = []
        for i, rate in enumerate(rates):
            say(f"== load {i + 1}/{len(rates)}: {rate:g} req/s for {mode['seconds']} s")
            f = os.path.join(measured, f"rate-{rate:g}.csv")
            measure(args, mode, system, rate, 100 + i, f)
            files.append((rate, f))
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
        say("== predict")
        run([args.meshsim, "predict", model, "--measured", combined, "--warmup-s",
             str(mode["warmup"]), "--reps", str(mode["reps"]), "--out", out])
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
