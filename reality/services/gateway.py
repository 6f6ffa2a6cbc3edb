"""The API gateway: forwards `GET /user/<id>` to the user service and `POST /order` to the
order service over HTTP, with a connection pool (requests.Session), recording a client span per
call. Its sync workers stay held while they wait for the downstream answer.

Downstream calls time out after $GATEWAY_TIMEOUT_S seconds (10 by default) and are tried
$GATEWAY_RETRIES more times (0 by default); a call that still fails answers 504."""

import os
import time

import requests
from flask import Response, request

from common import env_float, make_app
from zipkin import new_id

app, tracer = make_app("gateway")
USER_URL = os.environ.get("USER_URL", "http://127.0.0.1:8001")
ORDER_URL = os.environ.get("ORDER_URL", "http://127.0.0.1:8002")
TIMEOUT_S = env_float("GATEWAY_TIMEOUT_S", 10.0)
RETRIES = int(os.environ.get("GATEWAY_RETRIES", "0"))
# One pool per worker process; gunicorn's sync workers close every connection after the
# response, so in practice each call opens a new one (as it would in this deployment).
session = requests.Session()


@app.get("/user/<int:uid>")
def get_user(uid):
    return forward("user", "GET", "/user/<int:uid>", f"{USER_URL}/user/{uid}")


@app.post("/order")
def post_order():
    return forward("order", "POST", "/order", f"{ORDER_URL}/order", request.get_data())


def forward(service, method, rule, url, body=None):
    """Calls `service`, each try with its own client span; answers what it answered."""
    trace_id, parent = request.environ["zipkin.context"]
    for attempt in range(RETRIES + 1):
        span_id = new_id()
        start = time.time_ns()
        headers = {"X-B3-TraceId": trace_id, "X-B3-SpanId": span_id,
                   "X-B3-ParentSpanId": parent, "X-B3-Sampled": "1"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            r = session.request(method, url, data=body, headers=headers, timeout=TIMEOUT_S)
            status, content, ctype = r.status_code, r.content, r.headers.get("Content-Type")
        except requests.RequestException:
            status, content, ctype = 0, b'{"error":"downstream timed out or failed"}', None
        request.environ["zipkin.spans"].append(tracer.span(
            "CLIENT", f"{method} {rule}", trace_id, span_id, parent, start, time.time_ns(),
            status, remote=service))
        if 0 < status < 500:
            break
    return Response(content, status=status or 504, content_type=ctype or "application/json")
