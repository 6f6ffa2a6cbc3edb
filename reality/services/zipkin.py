"""Zipkin v2 spans, written by hand: one JSON array per request, one line per array.

Why not OpenTelemetry's SDK: it costs tens of microseconds per span in Python and a dozen
packages, on handlers whose own work is a few milliseconds, and its file exporter writes
through a batch thread that competes for the GIL with the request being measured. This module
costs one `json.dumps` and one `write` per request: the spans of a request (its server span and
the client spans of its calls) go out as one line when the response has been written.

`meshsim import` reads the files (one array per line is a stream of Zipkin v2 documents).
Tracing is on when the environment names a folder in TRACE_DIR; each worker process writes its
own file there, so no two processes share one.
"""

import json
import os
import random
import time

TRACE_DIR = os.environ.get("TRACE_DIR")


def new_id(bits=64):
    return "%0*x" % (bits // 4, random.getrandbits(bits))


class Tracer:
    """Spans of one service, written by whichever worker process handles the request."""

    def __init__(self, service, port):
        self.service = service
        self.endpoint = {"serviceName": service, "ipv4": "127.0.0.1", "port": port}
        self.file = None
        self.pid = None

    @property
    def enabled(self):
        return TRACE_DIR is not None

    def write(self, spans):
        if not self.enabled:
            return
        pid = os.getpid()
        if self.pid != pid:  # opened after gunicorn forks its workers, one file per process
            self.file = open(
                os.path.join(TRACE_DIR, f"{self.service}-{pid}.jsonl"), "a", buffering=1
            )
            self.pid = pid
        self.file.write(json.dumps(spans, separators=(",", ":")) + "\n")

    def span(self, kind, name, trace_id, span_id, parent_id, start_ns, end_ns, status,
             remote=None):
        span = {
            "traceId": trace_id,
            "id": span_id,
            "kind": kind,
            "name": name,
            "timestamp": start_ns // 1000,
            "duration": max(1, (end_ns - start_ns) // 1000),
            "localEndpoint": self.endpoint,
            "tags": {"http.status_code": str(status)},
        }
        if parent_id:
            span["parentId"] = parent_id
        if remote:
            span["remoteEndpoint"] = {"serviceName": remote}
        if status >= 500 or status == 0:
            span["tags"]["error"] = "true"
        return span


# Set by gunicorn_conf.py's hook around each connection a sync worker handles: when the worker
# accepted it. With it, a server span covers all the time the worker spends on the request
# (reading and parsing it, answering, closing the connection), not only the WSGI call, and the
# spans are written once the connection is closed.
# The worker's CPU time at that moment (the process's, which serves one request at a time) lets
# the server span say how much CPU the request cost: the tag `cpu_ms`.
CONNECTION = {"accepted_ns": None, "cpu_ns": None, "pending": None}


def connection_accepted():
    CONNECTION["accepted_ns"] = time.time_ns()
    CONNECTION["cpu_ns"] = time.process_time_ns()


def connection_closed():
    """The worker closed the connection: the pending server span ends now and is written."""
    pending = CONNECTION["pending"]
    cpu_ns = CONNECTION["cpu_ns"]
    CONNECTION["accepted_ns"] = None
    CONNECTION["cpu_ns"] = None
    CONNECTION["pending"] = None
    if pending is not None:
        tracer, spans = pending
        spans[0]["duration"] = max(1, (time.time_ns() // 1000) - spans[0]["timestamp"])
        spans[0]["tags"]["cpu_ms"] = "%.4f" % ((time.process_time_ns() - cpu_ns) / 1e6)
        # Which worker served it (OpenTelemetry's `process.pid`): a worker's idle gap before
        # each call, against the call's CPU, shows how much caches cooling costs.
        spans[0]["tags"]["process.pid"] = str(os.getpid())
        tracer.write(spans)


class Middleware:
    """WSGI middleware: a server span per request, from the moment the worker accepted the
    connection (or, without gunicorn_conf.py's hook, the app was called) to the moment it has
    written the response and closed the connection (B3 headers continue a trace). The handler names the span (`environ["zipkin.name"]`) and adds its calls'
    client spans to `environ["zipkin.spans"]`."""

    def __init__(self, app, tracer):
        self.app = app
        self.tracer = tracer

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/health":  # the harness's probes are not traffic
            return self.app(environ, start_response)
        start = CONNECTION["accepted_ns"] or time.time_ns()
        trace_id = environ.get("HTTP_X_B3_TRACEID") or new_id(128)
        parent = environ.get("HTTP_X_B3_SPANID")
        span_id = new_id()
        environ["zipkin.context"] = (trace_id, span_id)
        environ["zipkin.spans"] = []
        status = [0]

        def recording_start_response(s, headers, exc_info=None):
            status[0] = int(s.split(" ", 1)[0])
            return start_response(s, headers, exc_info)

        body = self.app(environ, recording_start_response)
        return _Closing(body, lambda: self._finish(environ, start, trace_id, span_id, parent,
                                                   status[0]))

    def _finish(self, environ, start, trace_id, span_id, parent, status):
        name = environ.get("zipkin.name") or (
            environ.get("REQUEST_METHOD", "GET") + " " + environ.get("PATH_INFO", "/"))
        server = self.tracer.span("SERVER", name, trace_id, span_id, parent, start,
                                  time.time_ns(), status)
        if CONNECTION["accepted_ns"] is not None:
            CONNECTION["pending"] = (self.tracer, [server] + environ["zipkin.spans"])
        else:
            self.tracer.write([server] + environ["zipkin.spans"])


class _Closing:
    """The response body, calling `done` when the server closes it (after writing it)."""

    def __init__(self, body, done):
        self.body = body
        self.done = done

    def __iter__(self):
        return iter(self.body)

    def close(self):
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            self.done()
