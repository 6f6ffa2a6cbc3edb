"""The order service: `POST /order` answers after a wait drawn from a lognormal distribution
(mean $ORDER_MEAN_MS, 8 ms by default; shape $ORDER_SIGMA, 0.5): a write to a database."""

import math
import random
import time

from flask import request

from common import env_float, make_app

app, tracer = make_app("order")
MEAN_S = env_float("ORDER_MEAN_MS", 8.0) / 1e3
SIGMA = env_float("ORDER_SIGMA", 0.5)
MU = math.log(MEAN_S) - SIGMA * SIGMA / 2  # so that the mean is MEAN_S


@app.post("/order")
def post_order():
    order = request.get_json(silent=True) or {}
    time.sleep(random.lognormvariate(MU, SIGMA))
    return {"id": random.getrandbits(32), "items": len(order.get("items", []))}, 201
