"""The loop in one process, ticked by hand: a retraining that fails is an event with its error
and leaves traffic untouched; the next breach retrains again only after the cooldown."""

from __future__ import annotations

import time

import numpy as np
import pytest

from policies.harness import ENDPOINT, MODEL, MONITOR, POLICY, install_champion, policy_yaml
from usina.testing.monitoring import log_row, write_log

on_sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _breached_windows(client, count: int, seed: int) -> None:  # type: ignore[no-untyped-def]
    """``count`` breached monitor runs over drifted traffic logged a moment ago."""
    rng = np.random.default_rng(seed)
    now = time.time()
    xs = rng.uniform(-3, 3, 80)
    rows = [
        log_row(f"s{seed}-{i}", now - 60 + i / 2, {"x": float(x)}, int(x > 0), endpoint=ENDPOINT)
        for i, x in enumerate(xs)
    ]
    write_log(client.artifacts, rows, f"t{seed}")
    client.labels.ingest(
        ENDPOINT, [{"request_id": f"s{seed}-{i}", "label": int(x > 1.5)} for i, x in enumerate(xs)]
    )
    for _ in range(count):
        assert client.monitors.run(MONITOR, end=time.time() + 1).status == "breached"


@on_sqlite
def test_a_failed_retraining_is_recorded_and_the_cooldown_holds_the_next(
    db_url, client_factory
) -> None:  # type: ignore[no-untyped-def]
    from usina.policies.engine import PolicyEngine

    client = client_factory(db_url)
    install_champion(client)
    client.policies.apply(policy_yaml(fail=True).replace("cooldown: 0s", "cooldown: 1h"))
    engine = PolicyEngine(client, "here", max_workers=1)
    before = client.endpoints.get(ENDPOINT)
    _breached_windows(client, 1, seed=1)
    assert engine.tick() == [], "one breached window of the two the policy waits for"
    _breached_windows(client, 1, seed=2)
    started, failed = engine.tick()
    assert (started.kind, failed.kind) == ("retrain_started", "retrain_failed")
    assert "the training data could not be read" in failed.reason
    assert "RuntimeError" in failed.figures["error"]
    assert failed.figures["error"] in failed.reason
    assert started.actor == failed.actor == "local"
    after = client.endpoints.get(ENDPOINT)
    assert (after.alias, after.deployments, after.generation) == (
        before.alias,
        before.deployments,
        before.generation,
    )
    assert client.get_version(f"models:/{MODEL}@champion").version == 1
    assert client.registry.get_model(MODEL).latest_version == 1
    # Breached again at once: the cooldown holds the next retraining, and says nothing.
    _breached_windows(client, 2, seed=3)
    assert engine.tick() == []
    rollout = client.policies.rollout(POLICY)
    assert (rollout.state, rollout.breaches) == ("idle", 2)


@on_sqlite
def test_a_retraining_whose_scheduler_stopped_is_abandoned_after_its_timeout(
    db_url, client_factory
) -> None:  # type: ignore[no-untyped-def]
    from usina.policies.engine import PolicyEngine
    from usina.policies.entities import NewEvent

    client = client_factory(db_url)
    install_champion(client)
    client.policies.apply(policy_yaml().replace("  window: 1h\n", "  window: 1h\n  timeout: 60s\n"))
    # Another scheduler started a retraining, and was killed while its pipeline ran.
    rollout = client.policies.rollout(POLICY)
    started = time.time()
    client.policies.transition(
        POLICY,
        "idle",
        rollout.generation,
        {"state": "retraining", "holder": "gone:1", "since": started, "champion": 1},
        NewEvent("retrain_started", "two breached windows", 1),
    )
    engine = PolicyEngine(client, "here")
    assert engine.tick(now=started + 30) == [], "within its timeout it is left to its holder"
    (abandoned,) = engine.tick(now=started + 61)
    assert abandoned.kind == "abandoned" and "gone:1" in abandoned.reason
    assert client.policies.rollout(POLICY).state == "idle"
    assert client.get_version(f"models:/{MODEL}@champion").version == 1


@on_sqlite
@pytest.mark.parametrize("through", ["direct", "http"])
def test_live_figures_of_a_canary_and_of_a_shadow(
    db_url, client_factory, through: str, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    from usina.policies.evaluate import labelled_window, live_figures

    if through == "direct":
        client = client_factory(db_url)
    else:  # a scheduler working through a server reads the log and labels through it
        client = request.getfixturevalue("remote_factory")()
    install_champion(client)
    now = time.time()
    rows = []
    for i in range(40):
        x = -3 + 6 * i / 40
        rows.append(log_row(f"q{i}", now - 30 + i / 4, {"x": x}, int(x > 0), endpoint=ENDPOINT))
        shadow = log_row(f"q{i}", now - 30 + i / 4, {"x": x}, int(x > 1.5), endpoint=ENDPOINT)
        rows.append(shadow._replace(version=2, shadow=True))
    write_log(client.artifacts, rows)
    client.labels.ingest(
        ENDPOINT, [{"request_id": f"q{i}", "label": int(-3 + 6 * i / 40 > 1.5)} for i in range(40)]
    )
    served = live_figures(client, ENDPOINT, now - 60, now + 1)
    assert set(served) == {1} and served[1]["requests"] == 40 and served[1]["labelled"] == 40
    shadowed = live_figures(client, ENDPOINT, now - 60, now + 1, shadow=True)
    assert set(shadowed) == {2} and shadowed[2]["requests"] == 40
    assert shadowed[2]["accuracy"] == 1.0 > served[1]["accuracy"]
    window = labelled_window(client, ENDPOINT, now - 60, now + 1, 1000)
    assert window.column_names == ["x", "label"] and window.num_rows == 40


@on_sqlite
def test_a_batch_model_is_retrained_gated_and_promoted_for_its_scheduled_job(
    db_url, client_factory, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    import usina.datasets
    from usina.batch import run
    from usina.policies.engine import PolicyEngine

    client = client_factory(db_url)
    install_champion(client)
    xs = np.linspace(-3, 3, 200)
    holdout = pd.DataFrame({"x": xs, "label": (xs > 1.5).astype(int)})
    usina.datasets.save(holdout, "loop-holdout", client=client)
    text = (
        policy_yaml()
        .replace("on_breach", f"endpoint: null\nmodel: {MODEL}\non_breach")
        .replace("  data_param: data\n", "")
        .replace("    fail: false\n", "    fail: false\n    data: datasets:/loop-holdout@latest\n")
        .replace("gate:\n", "gate:\n  holdout: datasets:/loop-holdout@latest\n")
    )
    client.policies.apply(text)
    engine = PolicyEngine(client, "here", max_workers=1)
    _breached_windows(client, 2, seed=4)
    assert [e.kind for e in engine.tick()] == ["retrain_started", "gate_passed", "promoted"]
    assert client.get_version(f"models:/{MODEL}@champion").version == 2
    assert client.endpoints.get(ENDPOINT).deployments == (), "no endpoint was touched"
    # The scheduled batch job resolves the alias: its next run scores with the new champion.
    source = tmp_path / "day.parquet"
    pd.DataFrame({"x": xs}).to_parquet(source)
    job = run("loop-daily", f"models:/{MODEL}@champion", str(source), "loop_scores", client=client)
    assert job.version == 2
