"""A separate process that registers model versions, for concurrency and crash tests.

    python register_worker.py DB_URL ARTIFACTS COUNT [--forever]

Registers COUNT versions of ``shared-model`` (each with distinct bytes), each from its own
run with params and metrics. With ``--forever`` it prints ``ready`` after the first version
and keeps going until killed.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

from usina.client import Client


def main() -> None:
    db_url, artifacts, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    forever = "--forever" in sys.argv
    client = Client(db_url, artifacts, actor=f"worker-{os.getpid()}")
    rng = np.random.default_rng(os.getpid())
    x = rng.normal(size=(200, 5))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    # A large attribute makes each artifact write take long enough to be interrupted.
    model.noise_ = rng.normal(size=50_000 if forever else 10)
    i = 0
    while forever or i < count:
        model.noise_[0] = i
        with client.start_run("workers", params={"pid": os.getpid(), "i": i}) as run:
            run.log_metrics({"loss": 1.0 / (i + 1)}, step=i)
            client.register_model(model, "shared-model", run=run, input_example=x[:2])
        i += 1
        if forever and i == 1:
            print("ready", flush=True)
    client.close()


if __name__ == "__main__":
    main()
