"""What the three services share: a Flask app whose requests are traced (see zipkin.py)."""

import os

from flask import Flask, request

from zipkin import Middleware, Tracer


def make_app(service):
    """A Flask app for `service`, listening on $PORT, with a server span per request named
    after its route (`GET /user/<int:uid>`), as OpenTelemetry's Flask instrumentation names it."""
    app = Flask(service)
    tracer = Tracer(service, int(os.environ.get("PORT", "0")))

    @app.before_request
    def name_span():
        if request.url_rule is not None:
            request.environ["zipkin.name"] = f"{request.method} {request.url_rule.rule}"

    @app.get("/health")
    def health():
        return "ok"

    app.wsgi_app = Middleware(app.wsgi_app, tracer)
    return app, tracer


def env_float(name, default):
    return float(os.environ.get(name, default))
