"""Contracts of the policy and event stores: applying a file is all or nothing and names the
line and value of what it refuses; a plan changes nothing; a transition is a compare-and-set that
records its event once.

``check_policy_store`` takes a factory of fresh ``usina.Client`` objects, on a database or
through a server. Its policies retrain with :func:`retraining` (``usina.testing.policies``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import usina.pipelines as up
from usina.errors import InvalidInput, NotFound
from usina.policies.entities import NewEvent
from usina.testing.tracking import expect_error

PIPELINE = "usina.testing.policies:retraining"


@up.step
def _noop(data: str, C: float) -> None:
    return None


@up.pipeline(name="conformance-retraining")
def retraining(data: str = "", C: float = 1.0):  # type: ignore[no-untyped-def]
    """A pipeline the suite's policies name (it is never run here)."""
    _noop(data, C)


def spec(name: str = "p1", **overrides: str) -> str:
    """A valid policy file, with some lines replaced (``canary="150"``...)."""
    fields = {
        "monitor": "m1",
        "pipeline": PIPELINE,
        "param": "C: 0.5",
        "rule": "accuracy >= champion.accuracy + 0.01",
        "canary": "10",
        "metric": "accuracy",
    }
    fields.update(overrides)
    return (
        f"name: {name}\n"  # line 1
        f"monitor: {fields['monitor']}\n"  # 2
        "after: 2\n"  # 3
        "cooldown: 10m\n"  # 4
        "retrain:\n"  # 5
        f"  pipeline: {fields['pipeline']}\n"  # 6
        "  data_param: data\n"  # 7
        "  params:\n"  # 8
        f"    {fields['param']}\n"  # 9
        "gate:\n"  # 10
        "  rules:\n"  # 11
        "    - accuracy >= 0.7\n"  # 12
        f"    - {fields['rule']}\n"  # 13
        "rollout:\n"  # 14
        f"  canary: {fields['canary']}\n"  # 15
        "  window: 10m\n"  # 16
        f"  metric: {fields['metric']}\n"  # 17
        "rollback:\n"  # 18
        "  watch: 1h\n"  # 19
    )


def _setup(client: Any) -> None:
    from sklearn.dummy import DummyClassifier

    model = DummyClassifier().fit([[0.0], [1.0]], [0, 1])
    client.register_model(model, "conf-model", input_example=[[0.0]])
    client.set_alias("conf-model", "champion", 1)
    client.endpoints.create("conf", "models:/conf-model@champion")
    client.monitors.create({"name": "m1", "endpoint": "conf", "window": "1h"})


def _refused(store: Any, text: str, line: int, value: str) -> InvalidInput:
    exc = expect_error(InvalidInput, lambda: store.apply(text, filename="p.yaml"))
    assert isinstance(exc, InvalidInput)
    assert f"p.yaml:{line}:" in str(exc), f"line {line} not named in: {exc}"
    assert value in str(exc), f"{value!r} not named in: {exc}"
    return exc


def check_policy_store(make_client: Callable[[], Any]) -> None:
    """Assert that ``make_client().policies`` and ``.events`` keep their contracts."""
    client = make_client()
    _setup(client)
    store, events = client.policies, client.events
    assert store.list() == []

    # A plan says what would change and changes nothing.
    (plan,) = store.apply(spec(), dry_run=True)
    assert (plan.policy, plan.action) == ("p1", "create")
    assert store.list() == []
    expect_error(NotFound, lambda: store.get("p1"))

    (applied,) = store.apply(spec(), filename="p.yaml")
    assert applied.action == "create"
    policy = store.get("p1")
    assert (policy.spec.monitor, policy.spec.model, policy.spec.endpoint) == (
        "m1",
        "conf-model",
        "conf",
    )
    assert policy.spec.params == {"C": 0.5} and policy.spec.canary == 10
    assert [r.text for r in policy.spec.rules] == [
        "accuracy >= 0.7",
        "accuracy >= champion.accuracy + 0.01",
    ]
    assert [p.name for p in store.list()] == ["p1"]
    rollout = store.rollout("p1")
    assert (rollout.state, rollout.generation, rollout.breaches) == ("idle", 0, 0)

    # The same file again changes nothing; another canary share is an update of that field.
    assert [c.action for c in store.apply(spec())] == ["unchanged"]
    (changed,) = store.apply(spec(canary="20"), dry_run=True)
    assert (changed.action, changed.fields) == ("update", ("rollout.canary",))
    assert store.get("p1").spec.canary == 10
    store.apply(spec(canary="20"))
    assert store.get("p1").spec.canary == 20

    # Refused, naming the line and the value; nothing of the file applied.
    _refused(store, spec("p2", monitor="nope"), 2, "'nope'")
    _refused(store, spec("p2", pipeline="usina.testing.policies:missing"), 6, "missing")
    _refused(store, spec("p2", param="gamma: 3"), 9, "'gamma'")
    _refused(store, spec("p2", rule="auc >>= 0.7"), 13, "auc >>= 0.7")
    _refused(store, spec("p2", rule="aucc >= champion.auc"), 13, "'aucc'")
    _refused(store, spec("p2", metric="accuracyy"), 17, "'accuracyy'")
    for share in ("0", "100", "150", "-5"):
        _refused(store, spec("p2", canary=share), 15, share)
    unknown = spec("p2").replace("after: 2\n", "afterr: 2\n")
    _refused(store, unknown, 3, "'afterr'")
    batch = spec("p2").replace("after: 2\n", "endpoint: null\nmodel: conf-model\nafter: 2\n")
    _refused(store, batch, 9, "'data'")  # a batch model has no labelled traffic to pass
    both = spec("p3") + "---\n" + spec("p4", canary="100")
    _refused(store, both, 20 + 15, "100")
    assert [p.name for p in store.list()] == ["p1"], "a refused file applies nothing"
    # One policy per model: a second would race the first for its champion alias.
    exc = expect_error(InvalidInput, lambda: store.apply(spec("p2")), "model")
    assert "'p1'" in str(exc) and "'conf-model'" in str(exc)
    expect_error(InvalidInput, lambda: store.apply("name: [unclosed", filename="p.yaml"))

    # A transition is a compare-and-set: the first wins, the same one again does nothing.
    moved = store.transition(
        "p1",
        "idle",
        0,
        {"state": "retraining", "holder": "a", "breaches": 0},
        NewEvent("retrain_started", "two breached windows", 1, {"breaches": 2}),
    )
    assert moved is not None and (moved.state, moved.generation, moved.holder) == (
        "retraining",
        1,
        "a",
    )
    again = store.transition("p1", "idle", 0, {"state": "retraining"}, NewEvent("breach", "x"))
    assert again is None
    counted = store.transition("p1", "retraining", 1, {"breaches": 3})
    assert counted is not None and counted.generation == 2 and counted.breaches == 3
    expect_error(
        InvalidInput,
        lambda: store.transition("p1", "retraining", 2, {}, NewEvent("made_up", "x")),
        "kind",
    )
    expect_error(InvalidInput, lambda: store.transition("p1", "retraining", 2, {"color": 1}))
    expect_error(NotFound, lambda: store.rollout("nope"))

    (event,) = events.list(policy="p1")
    assert (event.kind, event.model, event.version, event.generation) == (
        "retrain_started",
        "conf-model",
        1,
        1,
    )
    assert event.reason == "two breached windows" and event.figures == {"breaches": 2}
    assert events.list(model="conf-model") == [event]
    assert events.list(policy="other") == [] and events.list(after=event.id) == []
    expect_error(InvalidInput, lambda: events.list(limit=0), "limit")

    # Deleting the policy keeps its events on the record.
    store.delete("p1")
    expect_error(NotFound, lambda: store.get("p1"))
    expect_error(NotFound, lambda: store.delete("p1"))
    assert events.list(policy="p1") == [event]
