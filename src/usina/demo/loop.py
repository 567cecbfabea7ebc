"""The demo's last chapter: the loop closes by itself.

A small credit model (``credit-loop``: the applicant's score and debt ratio) serves an endpoint
watched by a quality monitor, with a policy (``docs/policies.md``). The world changes (more
defaults among mid scores), labels come back worse, the monitor breaches, and the policy
retrains on the labelled window, gates the candidate, puts it on a canary and promotes it. Then
a broken feed makes the new champion's live quality collapse: rolled back automatically. Then a
retraining with a bug (inverted labels) is refused by the gate, traffic untouched. The events
are printed as they are recorded; each also reaches the demo's mailbox.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import usina.pipelines as up
from usina.errors import InvalidInput
from usina.pipelines import Dataset, Metrics, Model

if TYPE_CHECKING:
    from usina.demo.story import Story
    from usina.policies.entities import Event

MODEL = "credit-loop"
ENDPOINT = "credit-loop"
MONITOR = "credit-loop-quality"
POLICY = "credit-loop"
FEATURES = ("score", "debt_ratio")
MAIL = "ml-team@example.com"


class Trained(NamedTuple):
    model: Model
    metrics: Metrics


@up.step(register=MODEL)
def fit(data: Dataset, invert: bool = False) -> Trained:
    """A logistic regression on the labelled window the policy passes in; ``invert`` is the
    bug the gate must catch (the labels read upside down)."""
    from sklearn.linear_model import LogisticRegression

    frame: Any = data.to_pandas()
    labels = frame["label"].astype(int)
    if invert:
        labels = 1 - labels
    model = LogisticRegression().fit(frame[list(FEATURES)], labels)
    accuracy = float((model.predict(frame[list(FEATURES)]) == labels).mean())
    return Trained(model, Metrics({"accuracy": accuracy}))


@up.pipeline(name="credit-loop-retraining")
def retraining(data: str = "", invert: bool = False):  # type: ignore[no-untyped-def]
    fit(data, invert)


def old_world(score: float, debt: float) -> int:
    return int(score < 0.45)


def new_world(score: float, debt: float) -> int:
    return int(score < 0.7)


def broken_feed(score: float, debt: float) -> int:
    return 1 - new_world(score, debt)


def policy_text(*, invert: bool = False) -> str:
    return f"""\
name: {POLICY}
monitor: {MONITOR}
after: 2
cooldown: 0s
retrain:
  pipeline: usina.demo.loop:retraining
  params: {{invert: {str(invert).lower()}}}
  data_param: data
  window: 45s
gate:
  rules:
    - accuracy >= champion.accuracy + 0.05
    - latency_p99 <= 2 * champion + 10
    - accuracy >= 0.8
rollout:
  canary: 30
  window: 2s
  min_requests: 20
  patience: 30
  metric: accuracy
  margin: 0.05
rollback:
  watch: 10m
  margin: 0.1
"""


class _Live:
    """Labelled traffic to the endpoint, in the world the chapter is in."""

    def __init__(self, story: Story, url: str) -> None:
        import httpx
        import numpy as np

        self.client = story.client
        self.url = url
        self.http = httpx.Client(timeout=30)
        self.rng = np.random.default_rng(story.seed)
        self.count = 0

    def send(self, requests: int, world: Callable[[float, float], int]) -> None:
        labels = []
        for _ in range(requests):
            score, debt = (float(v) for v in self.rng.uniform(0, 1, 2))
            self.count += 1
            rid = f"loop-{time.time_ns()}-{self.count}"
            answer = self.http.post(
                self.url,
                json={"instances": [{"score": score, "debt_ratio": debt}]},
                headers={"X-Request-Id": rid},
            )
            if answer.status_code == 200:
                labels.append({"request_id": rid, "label": world(score, debt)})
        deadline = time.monotonic() + 30
        while labels:  # the request log reaches its files within a file interval
            try:
                self.client.labels.ingest(ENDPOINT, labels)
                return
            except InvalidInput:  # not in the request log yet: try again shortly
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        self.http.close()


def _setup(story: Story) -> int:
    """A fresh champion (the old world) behind the endpoint, its monitor and the policy."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from usina.errors import NotFound

    client = story.client
    with contextlib.suppress(NotFound):  # a second demo starts the loop afresh
        client.policies.delete(POLICY)
    with contextlib.suppress(NotFound):
        client.monitors.delete(MONITOR)
    with contextlib.suppress(NotFound):
        client.endpoints.delete(ENDPOINT)
    rng = np.random.default_rng(story.seed)
    frame = pd.DataFrame({"score": rng.uniform(0, 1, 2000), "debt_ratio": rng.uniform(0, 1, 2000)})
    labels = [old_world(s, d) for s, d in zip(frame["score"], frame["debt_ratio"], strict=True)]
    model = LogisticRegression().fit(frame, labels)
    version = client.register_model(model, MODEL, input_example=frame.head(2)).version
    client.set_alias(MODEL, "champion", version, reason="the loop's first champion")
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
    client.policies.apply(policy_text(), filename="credit-loop.yaml")
    return version


def chapter_loop(story: Story) -> None:
    story.title(
        "The loop closes by itself: drift, retraining, a gate, a canary, promotion, a rollback, "
        "a refusal"
    )
    if story.client.server is not None:
        story.say(
            "Through a usina server, its scheduler runs the loop: apply a policy with "
            "'usina policies apply' and watch 'usina events --follow' (docs/policies.md)."
        )
        return
    from rich.markup import escape

    from usina.demo.mailbox import Mailbox
    from usina.demo.traffic import serving
    from usina.monitoring.alerter import Alerter
    from usina.monitoring.channels import DeliveryConfig, SmtpConfig
    from usina.monitoring.monitors_sql import SqlMonitorStore
    from usina.policies.engine import PolicyEngine
    from usina.policies.notify import send_event

    client = story.client
    started = time.perf_counter()
    first = _setup(story)
    story.say(
        f"{MODEL} v{first} is champion behind endpoint {ENDPOINT}; monitor {MONITOR} wants "
        "accuracy >= 0.85 over 5 minutes; policy credit-loop (docs/policies.md): after 2 "
        "breached windows retrain, gate on accuracy and latency, canary 30% for 2 s, watch 10 m."
    )
    seen: list[Event] = []
    mark = max((e.id for e in client.events.list(policy=POLICY, limit=1000)), default=0)
    with Mailbox() as box, serving(client, ENDPOINT) as url:
        smtp = SmtpConfig("127.0.0.1", box.port, sender="usina@localhost", starttls=False)
        config = DeliveryConfig(smtp=smtp)

        def notify(policy: Any, event: Event) -> None:
            send_event(event, [f"email:{MAIL}"], config)

        monitors = client.monitors
        if isinstance(monitors, SqlMonitorStore):  # the monitor's own alert, to this mailbox
            monitors.alerter = Alerter(client.alerts, config)
        engine = PolicyEngine(client, "demo", notify=notify, max_workers=1)
        stop = threading.Event()

        def loop() -> None:  # the scheduler's part: tick while the chapter goes on
            while not stop.wait(0.2):
                engine.tick()

        live = _Live(story, url)
        ticker = threading.Thread(target=loop, name="usina-demo-policies", daemon=True)
        ticker.start()
        try:

            def until(kind: str, world: Callable[[float, float], int], timeout: float) -> Event:
                deadline = time.monotonic() + timeout
                while True:
                    for e in client.events.list(policy=POLICY, after=mark, limit=1000):
                        if e.id > (seen[-1].id if seen else 0):
                            seen.append(e)
                            story.say(
                                f"[bold]event[/bold] {e.kind} v{e.version}: {escape(e.reason)}"
                            )
                    found = [e for e in seen if e.kind == kind]
                    if found:
                        return found[-1]
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the demo's loop saw no {kind} event in {timeout} s")
                    live.send(10, world)

            def breach(twice_in: Callable[[float, float], int]) -> None:
                live.send(150, twice_in)
                for _ in range(2):
                    run = client.monitors.run(MONITOR, end=time.time() + 1)
                    story.say(
                        f"monitor run: {run.status}"
                        + "".join(f"; {escape(b['text'])}" for b in run.breaches[:1])
                    )

            story.say("The world changes: more defaults among mid scores; labels come back.")
            breach(new_world)
            until("promoted", new_world, 90)
            story.say("A broken upstream feed: the new champion's live quality collapses.")
            until("rolled_back", broken_feed, 90)
            story.say("Someone ships a retraining bug (labels read upside down).")
            client.policies.apply(policy_text(invert=True), filename="credit-loop.yaml")
            breach(new_world)
            until("gate_failed", new_world, 90)
        finally:
            stop.set()
            ticker.join()
            live.close()
        deadline = time.monotonic() + 15  # one e-mail per decision (and the monitor's alert)

        def policy_mails() -> list[Any]:
            return [m for m in box.messages if str(m["Subject"]).startswith("[usina] policy")]

        while len(policy_mails()) < len(seen) and time.monotonic() < deadline:
            box.wait(len(box.messages) + 1, timeout=0.5)
        mails = policy_mails()
        alert = next((m for m in box.messages if "FIRING" in str(m["Subject"])), None)
    story.loop_events = seen
    if alert is not None:
        story.say(f"The monitor's alert reached the mailbox too: {escape(str(alert['Subject']))}")
    endpoint = client.endpoints.get(ENDPOINT)
    champion = client.get_version(f"models:/{MODEL}@champion").version
    story.say(
        f"{len(seen)} decisions, each an event, an e-mail ({len(mails)} in the mailbox, "
        f"e.g. '{escape(str(mails[-1]['Subject'])) if mails else '-'}') and, for the alias "
        "moves, a line "
        f"of usina models history {MODEL}. Champion v{champion}; endpoint on "
        f"{endpoint.target}; {time.perf_counter() - started:.1f} s."
    )
    story.say("Again: usina events --policy credit-loop; usina policies show credit-loop")
