"""The contract of a ``TrackingStore``, as a function any backend's tests call."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from usina.artifacts import put_bytes
from usina.errors import Conflict, InvalidInput, NotFound, UsinaError
from usina.tracking import Metric, RunStatus


def expect_error(
    kind: type[UsinaError], fn: Callable[[], Any], field: str | None = None
) -> UsinaError:
    """Call ``fn`` and assert it raises ``kind`` (naming ``field`` when given)."""
    try:
        fn()
    except kind as exc:
        if field is not None:
            assert exc.field == field, (
                f"{kind.__name__} should name field {field!r}, not {exc.field!r}"
            )
        return exc
    raise AssertionError(f"expected {kind.__name__}, but nothing was raised")


def check_tracking_store(make_client: Callable[[], Any]) -> None:
    """Assert that the tracking store of a fresh client from ``make_client()`` keeps the contract.

    The client (a ``usina.Client`` on an empty installation) supplies the store under test as
    ``client.tracking`` and the artifact store its runs log to as ``client.artifacts``.
    """
    client = make_client()
    store = client.tracking

    # Runs start running, with their first params and tags.
    run = store.create_run("conf-exp", "first", params={"C": "0.5"}, tags={"team": "risk"})
    assert run.status == RunStatus.RUNNING and run.experiment == "conf-exp" and run.name == "first"
    got = store.get_run(run.id)
    assert got.params == {"C": "0.5"} and got.tags == {"team": "risk"}, "params and tags at start"
    assert store.get_run(run.id[:8]).id == run.id, "a unique id prefix finds the run"

    # Batches: the latest value of a metric is the one with the highest step.
    now = time.time()
    store.log_batch(
        run.id,
        metrics=[
            Metric("loss", 0.9, 0, now),
            Metric("loss", 0.2, 2, now),
            Metric("loss", 0.5, 1, now),
        ],
        params={"depth": "3"},
        tags={"team": "fraud", "stage": "dev"},
    )
    got = store.get_run(run.id)
    assert got.metrics == {"loss": 0.2}, "metrics hold the value at the highest step"
    assert got.params == {"C": "0.5", "depth": "3"}
    assert got.tags == {"team": "fraud", "stage": "dev"}, "tags can be overwritten"
    history = store.metric_history(run.id, "loss")
    assert [m.step for m in history] == [0, 1, 2] and [m.value for m in history] == [0.9, 0.5, 0.2]
    store.log_batch(run.id, params={"depth": "3"})  # the same value again is fine
    expect_error(Conflict, lambda: store.log_batch(run.id, params={"depth": "4"}), field="depth")
    expect_error(
        InvalidInput, lambda: store.log_batch(run.id, params={"bad key!": "1"}), field="param"
    )
    expect_error(InvalidInput, lambda: store.create_run("bad/../name!"), field="experiment")
    for bad in (float("nan"), float("inf")):

        def log_non_finite(value: float = bad) -> None:
            store.log_batch(run.id, metrics=[Metric("loss", value, 3, now)])

        expect_error(InvalidInput, log_non_finite, field="loss")

    # Inputs and artifacts (the blob is in the client's artifact store first).
    blob = put_bytes(client.artifacts, b"report")
    store.log_artifact(run.id, "reports/summary.txt", blob.digest, blob.size)
    store.log_input(run.id, "transactions", "a" * 64, 120)
    store.heartbeat(run.id)
    got = store.get_run(run.id)
    assert [(a.path, a.digest, a.size) for a in got.artifacts] == [
        ("reports/summary.txt", blob.digest, 6)
    ]
    assert [(i.name, i.rows) for i in got.inputs] == [("transactions", 120)]

    # A record that points at nothing is refused, whichever side of a server the store is on.
    expect_error(
        NotFound, lambda: store.log_artifact(run.id, "model.bin", "f" * 64, 1), field="digest"
    )
    expect_error(
        InvalidInput,
        lambda: store.log_artifact(run.id, "../outside.txt", blob.digest, blob.size),
    )
    expect_error(NotFound, lambda: store.heartbeat("0" * 32), field="run_id")
    expect_error(InvalidInput, lambda: store.heartbeat("not-an-id"), field="run_id")
    expect_error(NotFound, lambda: store.end_run("0" * 32, RunStatus.FINISHED), field="run_id")
    expect_error(NotFound, lambda: store.log_batch("0" * 32, tags={"a": "1"}), field="run_id")
    expect_error(NotFound, lambda: store.metric_history("0" * 32, "loss"), field="run_id")
    expect_error(InvalidInput, lambda: store.metric_history(run.id, "bad key!"), field="metric")
    expect_error(InvalidInput, lambda: store.log_input(run.id, "bad/../name!", "a" * 64))

    # A run ends with a final status: ending it as running is refused and changes nothing.
    expect_error(InvalidInput, lambda: store.end_run(run.id, RunStatus.RUNNING), field="status")
    still = store.get_run(run.id)
    assert still.status == RunStatus.RUNNING and still.end_time is None, "refused end: no change"

    # Ending closes the run for good.
    store.end_run(run.id, RunStatus.FINISHED)
    ended = store.get_run(run.id)
    assert ended.status == RunStatus.FINISHED and ended.end_time is not None
    expect_error(Conflict, lambda: store.log_batch(run.id, tags={"late": "1"}), field="run_id")
    expect_error(
        Conflict,
        lambda: store.log_artifact(run.id, "late.txt", blob.digest, blob.size),
        field="run_id",
    )
    expect_error(Conflict, lambda: store.log_input(run.id, "late", "b" * 64), field="run_id")
    store.heartbeat(run.id)  # a late heartbeat of an ended run changes nothing
    store.end_run(run.id, RunStatus.FAILED)  # nor does ending it again
    assert store.get_run(run.id).status == RunStatus.FINISHED

    # Missing and malformed ids.
    expect_error(NotFound, lambda: store.get_run("0" * 32), field="run_id")
    expect_error(InvalidInput, lambda: store.get_run("not-an-id"), field="run_id")
    expect_error(
        NotFound, lambda: store.list_runs(experiment="no-such-experiment"), field="experiment"
    )

    # Lists filter and page.
    made = [
        store.create_run("conf-list", f"r{i}", tags={"even": str(i % 2 == 0)}) for i in range(7)
    ]
    for r in made[:3]:
        store.end_run(r.id, RunStatus.FAILED)
    listed = store.list_runs(experiment="conf-list", limit=100)
    assert [r.id for r in listed] == [r.id for r in reversed(made)], "runs are listed newest first"
    pages = [store.list_runs(experiment="conf-list", limit=3, offset=o) for o in (0, 3, 6)]
    assert [r.id for p in pages for r in p] == [r.id for r in listed], "pages cover every run once"
    assert len(store.list_runs(experiment="conf-list", status="failed")) == 3
    assert {r.name for r in store.list_runs(experiment="conf-list", tags={"even": "True"})} == {
        "r0",
        "r2",
        "r4",
        "r6",
    }
    assert [r.name for r in store.list_runs(name="r5")] == ["r5"], "name filters by substring"
    cut = made[4].start_time
    assert {r.name for r in store.list_runs(experiment="conf-list", since=cut)} == {
        "r4",
        "r5",
        "r6",
    }
    assert {r.name for r in store.list_runs(experiment="conf-list", until=cut)} == {
        "r0",
        "r1",
        "r2",
        "r3",
    }
    expect_error(InvalidInput, lambda: store.list_runs(status="sleeping"), field="status")
    expect_error(InvalidInput, lambda: store.list_runs(limit=0), field="limit")

    experiments = store.list_experiments()
    assert [(e.name, e.run_count) for e in experiments] == [("conf-exp", 1), ("conf-list", 7)]
    assert [e.name for e in store.list_experiments(name="list")] == ["conf-list"]
    assert [e.name for e in store.list_experiments(limit=1, offset=1)] == ["conf-list"]
