"""Monitors: a run over logged traffic with a known shift flags the shifted features and no
others; thresholds breach; bad specs are refused with the value named and nothing stored."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from usina.client import Client
from usina.errors import Conflict, InvalidInput, NotFound
from usina.monitoring.monitors import check_spec
from usina.testing.monitoring import T0, log_row, write_log

HOUR = 3600.0
FEATURES = ["age", "income", "tenure"]


def _frame(rows: int, seed: int, shifted: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(55 if shifted else 40, 10, rows),
            "income": rng.lognormal(8, 0.5, rows),
            "tenure": rng.uniform(0, 10, rows),
        }
    )


def _target(frame: pd.DataFrame, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    signal = (frame["tenure"] - 5) / 3 + rng.normal(0, 1, len(frame))
    return (signal > 0).astype(int)


@pytest.fixture
def served(client_factory, sqlite_url: str) -> tuple[Client, Any]:  # type: ignore[no-untyped-def]
    """A registered model with its reference, an endpoint on it, and one hour of logged
    traffic whose ages are older than in training; every request is labelled."""
    client = client_factory(sqlite_url)
    train = _frame(5000, 1, shifted=False)
    model = LogisticRegression().fit(train, _target(train, 2))
    client.register_model(model, "credit-risk", input_example=train.head(3), reference=train)
    client.endpoints.create("credit", "models:/credit-risk/1")
    live = _frame(2000, 3, shifted=True)
    answers = model.predict(live)
    rows = [
        log_row(
            f"q{i}",
            T0 + i * HOUR / 2000,
            live.iloc[i].to_dict(),
            int(answers[i]),
            latency_ms=20.0 + i % 40,
        )
        for i in range(len(live))
    ]
    write_log(client.artifacts, rows)
    truth = _target(live, 4)
    client.labels.ingest(
        "credit", [{"request_id": f"q{i}", "label": int(truth[i])} for i in range(2000)]
    )
    return client, model


def test_a_run_flags_the_shifted_feature_only(served, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    client, _ = served
    client.monitors.create(
        {
            "name": "credit-watch",
            "endpoint": "credit",
            "window": "1h",
            "drift_threshold": 0.1,
            "metrics": ["accuracy>=0.99", "latency_p99<=500ms"],
            "alerts": ["log:ml"],
        }
    )
    with caplog.at_level(logging.WARNING, logger="usina.monitoring"):
        run = client.monitors.run("credit-watch", end=T0 + HOUR)
    assert run.status == "breached", run.error
    (version,) = run.figures["versions"]
    assert version["version"] == 1 and version["figures"]["requests"] == 2000
    drifted = {name for name, d in version["drift"].items() if d["drifted"] and not d["prediction"]}
    assert drifted == {"age"}
    kinds = {(b["kind"], b["name"]) for b in run.breaches}
    assert ("drift", "age") in kinds and ("metric", "accuracy") in kinds
    assert ("metric", "latency_p99") not in kinds
    assert not any(b["name"] in ("income", "tenure") for b in run.breaches)
    assert "auc" in version["figures"] and version["labelled"] == 2000
    assert any("age drifted" in r.getMessage() for r in caplog.records), "notify logs breaches"
    history = client.monitors.history("credit-watch")
    assert [h.id for h in history] == [run.id]
    assert history[0].figures == run.figures


def test_an_unshifted_window_breaches_nothing(served) -> None:  # type: ignore[no-untyped-def]
    client, model = served
    calm = _frame(1000, 9, shifted=False)
    answers = model.predict(calm)
    later = T0 + 2 * HOUR
    write_log(
        client.artifacts,
        [log_row(f"c{i}", later + i, calm.iloc[i].to_dict(), int(answers[i])) for i in range(1000)],
        tag="calm",
    )
    client.monitors.create(
        {"name": "calm", "endpoint": "credit", "window": "1h", "drift_threshold": 0.1}
    )
    run = client.monitors.run("calm", end=later + HOUR)
    assert run.status == "ok", run.breaches
    empty = client.monitors.run("calm", end=T0 - HOUR)
    assert empty.status == "no_data"


def test_bad_monitors_are_refused_and_nothing_is_stored(served) -> None:  # type: ignore[no-untyped-def]
    client, _ = served
    base = {"name": "m", "endpoint": "credit"}
    cases = [
        ({**base, "window": "4m"}, "window", "shorter than 5 minutes"),
        ({**base, "endpoint": "nope"}, "endpoint", "'nope'"),
        ({**base, "metrics": ["aucc>=0.7"]}, "metrics", "'aucc'"),
        ({**base, "metrics": ["auc>=0.7ms"]}, "metrics", "ms"),
        ({**base, "alerts": ["sms:123"]}, "alerts", "'sms:123'"),
        ({**base, "profile": "other"}, "profile", "'other'"),
        ({**base, "schedule": "every hour"}, "schedule", "'every hour'"),
        ({**base, "colour": "red"}, "colour", "'colour'"),
    ]
    for spec, field, words in cases:
        with pytest.raises(InvalidInput, match=words) as caught:
            client.monitors.create(spec)
        assert caught.value.field == field
    assert client.monitors.list() == []
    assert client.schedules.list() == []
    client.monitors.create({**base, "window": "5m", "schedule": "@hourly"})
    with pytest.raises(Conflict):
        client.monitors.create(base)
    assert [s.name for s in client.schedules.list()] == ["monitor.m"]
    client.monitors.delete("m")
    assert client.monitors.list() == [] and client.schedules.list() == []
    with pytest.raises(NotFound):
        client.monitors.get("m")


def test_spec_round_trip_and_units() -> None:
    spec = check_spec(
        {
            "name": "x",
            "endpoint": "e",
            "window": 900,
            "metrics": ["latency_p95<=0.05s", "error_rate<1%"],
        }
    )
    assert spec.window_s == 900 and spec.to_dict()["window"] == "15m"
    assert [(t.metric, t.value) for t in spec.thresholds] == [
        ("latency_p95", 50.0),
        ("error_rate", 0.01),
    ]
    assert check_spec(spec.to_dict()) == spec


def test_the_reference_is_stored_and_replaced(served) -> None:  # type: ignore[no-untyped-def]
    client, _ = served
    reference = client.get_reference("models:/credit-risk/1")
    assert reference is not None and reference.prediction == "prediction"
    assert set(reference.names) == {*FEATURES, "prediction"}
    assert reference.rows == 5000
    replaced = client.set_reference("models:/credit-risk/1", _frame(700, 5, shifted=True))
    assert client.get_reference("models:/credit-risk/1") == replaced
    assert replaced.rows == 700


def test_a_delay_moves_the_window_back_so_late_labels_count(served) -> None:  # type: ignore[no-untyped-def]
    client, _ = served
    client.monitors.create(
        {"name": "yesterday", "endpoint": "credit", "window": "1h", "delay": "1d"}
    )
    assert client.monitors.get("yesterday").spec.delay_s == 86_400
    run = client.monitors.run("yesterday", end=T0 + HOUR + 86_400)
    assert (run.window_start, run.window_end) == (T0, T0 + HOUR)
    assert run.figures["versions"][0]["labelled"] == 2000
    with pytest.raises(InvalidInput, match="delay") as caught:
        client.monitors.create({"name": "bad", "endpoint": "credit", "delay": "soon"})
    assert caught.value.field == "delay"
