"""What the policy tests share: a champion on an endpoint with a quality monitor, the policy
file, live traffic through the real serving app (labelled as it goes), and waiting for events.

The world: ``x`` uniform on (-3, 3). The champion (v1) learned ``label = x > 0``; the drifted
world labels ``x > 1.5`` (the champion's accuracy falls to about 0.75, under the monitor's
0.85); a retrained model learns the new world (about 0.97). The regressed world labels
``x < 1.5``, where that model is almost always wrong.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from resources.waiting import wait_until

MODEL = "loop-model"
ENDPOINT = "loop"
MONITOR = "loop-quality"
POLICY = "loop"
PIPELINE = str(Path(__file__).with_name("loop_pipeline.py"))
MAIL = "ops@example.com"


def drifted(x: float) -> int:
    return int(x > 1.5)


def regressed(x: float) -> int:
    return int(x < 1.5)


def policy_yaml(*, flip: bool = False, fail: bool = False, window: float = 2.0) -> str:
    return f"""\
name: {POLICY}
monitor: {MONITOR}
on_breach: retrain
after: 2
cooldown: 0s
retrain:
  pipeline: {PIPELINE}:retraining
  params:
    flip: {str(flip).lower()}
    fail: {str(fail).lower()}
  data_param: data
  window: 1h
gate:
  rules:
    - accuracy >= champion.accuracy + 0.05
    - latency_p99 <= 2 * champion + 10
    - accuracy >= 0.8
rollout:
  canary: 30
  window: {window}s
  min_requests: 20
  patience: 1000
  metric: accuracy
  margin: 0.05
rollback:
  watch: 10m
  margin: 0.1
"""


def install_champion(client: Any) -> None:
    """v1 (``x > 0``) as champion behind the endpoint, and the quality monitor e-mailing."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame({"x": np.linspace(-3, 3, 400)})
    model = LogisticRegression().fit(x, (x["x"] > 0).astype(int))
    client.register_model(model, MODEL, input_example=pd.DataFrame({"x": [0.5]}))
    client.set_alias(MODEL, "champion", 1, "the first model")
    client.endpoints.create(ENDPOINT, f"models:/{MODEL}@champion")
    client.monitors.create(
        {
            "name": MONITOR,
            "endpoint": ENDPOINT,
            "window": "5m",
            "metrics": ["accuracy>=0.85"],
            "alerts": [f"email:{MAIL}"],
        }
    )


class Traffic:
    """Requests to the endpoint, each labelled by ``world`` right after its answer."""

    def __init__(self, url: str, client: Any, seed: int = 0) -> None:
        self.predict = f"{url}/v1/endpoints/{ENDPOINT}:predict"
        self.client = client
        self.rng = np.random.default_rng(seed)
        self.ids = itertools.count()
        self.versions: list[int] = []
        self.http = httpx.Client(timeout=30)
        # A server notices a new endpoint within its poll interval.
        wait_until(
            lambda: (
                self.http.post(self.predict, json={"instances": [{"x": 0.0}]}).status_code == 200
            ),
            30,
            f"endpoint {ENDPOINT} to be served",
            interval=0.1,
        )

    def send(self, count: int, world: Callable[[float], int]) -> None:
        labels = []
        for _ in range(count):
            x = float(self.rng.uniform(-3, 3))
            rid = f"req-{next(self.ids)}"
            answer = self.http.post(
                self.predict, json={"instances": [{"x": x}]}, headers={"X-Request-Id": rid}
            )
            assert answer.status_code == 200, answer.text
            version = answer.headers.get("usina-model-version")
            if version is not None:
                self.versions.append(int(version))
            labels.append({"request_id": rid, "label": world(x)})
        self.label(labels)

    def label(self, labels: list[dict[str, Any]]) -> None:
        # The request log reaches its files within a flush: retry until the requests are known.
        wait_until(
            lambda: self.client.labels.ingest(ENDPOINT, labels),
            30,
            "the request log to hold the labelled requests",
            interval=0.1,
            ignoring=(Exception,),
        )

    def until(self, done: Callable[[], Any], world: Callable[[float], int], timeout: float) -> Any:
        """Send labelled traffic in small batches until ``done()`` holds; its value."""
        found: list[Any] = []

        def check() -> bool:
            value = done()
            if value:
                found.append(value)
                return True
            self.send(10, world)
            return False

        wait_until(check, timeout, "the loop's decision while traffic flows", interval=0.0)
        return found[0]

    def close(self) -> None:
        self.http.close()


def breach_twice(client: Any, traffic: Traffic) -> None:
    """Two breached monitor windows over drifted, labelled traffic (as two scheduled runs)."""
    import time

    traffic.send(60, drifted)
    for _ in range(2):
        run = wait_until(
            lambda: _breached(client.monitors.run(MONITOR, end=time.time() + 1)),
            30,
            "a breached monitor run",
            interval=0.2,
        )
        assert run.status == "breached", run


def _breached(run: Any) -> Any:
    return run if run.status == "breached" else None


def kinds(client: Any, after: int = 0) -> list[str]:
    return [e.kind for e in client.events.list(policy=POLICY, after=after, limit=1000)]


def event_of(client: Any, kind: str, after: int = 0) -> Any:
    """The first event of ``kind`` after the id ``after``, or ``None``."""
    for e in client.events.list(policy=POLICY, after=after, limit=1000):
        if e.kind == kind:
            return e
    return None


def last_event_id(client: Any) -> int:
    found = client.events.list(policy=POLICY, limit=1000)
    return found[-1].id if found else 0
