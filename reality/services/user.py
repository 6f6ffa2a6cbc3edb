"""The user service: `GET /user/<id>` answers after a wait drawn from an exponential
distribution (mean $USER_MEAN_MS, 5 ms by default): the time a database lookup would take."""

import random
import time

from common import env_float, make_app

app, tracer = make_app("user")
MEAN_S = env_float("USER_MEAN_MS", 5.0) / 1e3


@app.get("/user/<int:uid>")
def get_user(uid):
    time.sleep(random.expovariate(1.0 / MEAN_S))
    return {"id": uid, "name": f"user-{uid}"}
