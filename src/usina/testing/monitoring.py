"""Contracts of the label and monitor stores, and logged traffic written by the request log's
own file functions, for them (and tests) to read.

``check_label_store`` takes a factory of fresh ``usina.Client`` objects, on a database or
through a server: the traffic is written through the client's artifact store either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from usina.errors import InvalidInput
from usina.serving.logfiles import LogRow, file_name, row_file, row_groups
from usina.testing.tracking import expect_error

T0 = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC


def log_row(
    request_id: str,
    when: float,
    inputs: dict[str, Any] | Sequence[dict[str, Any]],
    output: Any,
    *,
    endpoint: str = "credit",
    version: int = 1,
    status: int = 200,
    latency_ms: float = 5.0,
) -> LogRow:
    """One logged answer, with its inputs as the serving app queues them (names, JSON rows)."""
    rows = [inputs] if isinstance(inputs, dict) else list(inputs)
    names = tuple(rows[0])
    data = [[r[n] for n in names] for r in rows]
    outputs = None if status >= 400 else ([output] if len(rows) == 1 else list(output))
    return LogRow(
        request_id,
        when,
        endpoint,
        "credit-risk",
        version,
        False,
        "vertex",
        status,
        latency_ms,
        (names, data),
        outputs,
        None if status < 400 else "bad input",
    )


def write_log(store: Any, rows: list[LogRow], tag: str = "t") -> list[str]:
    """Write ``rows`` as the log writer does: one Parquet file per (endpoint, UTC day)."""
    keys = []
    for seq, ((endpoint, day), indices) in enumerate(row_groups(rows).items()):
        key, data = row_file(rows, indices, 0.0, endpoint, day, file_name(tag, seq))
        store.write(key, data)
        keys.append(key)
    return keys


def check_label_store(make_client: Callable[[], Any]) -> None:
    """Assert that ``make_client().labels`` keeps the label store's contract."""
    client = make_client()
    rows = [
        log_row(f"r{i}", T0 + i, {"customer_id": 100 + i, "age": 30 + i}, i % 2) for i in range(6)
    ]
    rows.append(
        log_row(
            "multi",
            T0 + 10,
            [{"customer_id": 200, "age": 1}, {"customer_id": 201, "age": 2}],
            [0, 1],
        )
    )
    write_log(client.artifacts, rows)
    store = client.labels

    first = store.ingest(
        "credit", [{"request_id": "r0", "label": 1}, {"request_id": "r1", "label": 0}]
    )
    assert (first.stored, first.replaced) == (2, 0)
    # A key column the request carried names it; a later label for the same row replaces.
    again = store.ingest(
        "credit", [{"customer_id": 101, "label": 1}, {"request_id": "r2", "label": "yes"}]
    )
    assert (again.stored, again.replaced) == (2, 1)
    # Twice in one batch: the later wins, and counts as replaced.
    twice = store.ingest(
        "credit", [{"request_id": "r3", "label": 0}, {"request_id": "r3", "label": 1.5}]
    )
    assert (twice.stored, twice.replaced) == (1, 1)
    # Rows of a request of several rows, by row or by key.
    multi = store.ingest(
        "credit", [{"request_id": "multi", "row": 1, "label": 1}, {"customer_id": 200, "label": 0}]
    )
    assert (multi.stored, multi.replaced) == (2, 0)
    found = {(x.request_id, x.row): x.label for x in store.list("credit")}
    assert found == {
        ("r0", 0): 1,
        ("r1", 0): 1,
        ("r2", 0): "yes",
        ("r3", 0): 1.5,
        ("multi", 0): 0,
        ("multi", 1): 1,
    }

    # An unknown request refuses the whole batch, naming it.
    exc = expect_error(
        InvalidInput,
        lambda: store.ingest(
            "credit", [{"request_id": "r4", "label": 1}, {"request_id": "nope", "label": 0}]
        ),
        "request_id",
    )
    assert "'nope'" in str(exc)
    exc = expect_error(
        InvalidInput,
        lambda: store.ingest("credit", [{"customer_id": 999, "label": 0}]),
        "request_id",
    )
    assert "customer_id=999" in str(exc)
    expect_error(
        InvalidInput,
        lambda: store.ingest("credit", [{"request_id": "r0", "row": 1, "label": 0}]),
        "row",
    )
    assert ("r4", 0) not in {(x.request_id, x.row) for x in store.list("credit")}
    # Another endpoint's log does not count.
    expect_error(
        InvalidInput,
        lambda: store.ingest("churn", [{"request_id": "r0", "label": 1}]),
        "request_id",
    )
    # Bad labels: named.
    bad_labels: list[tuple[list[dict[str, Any]], str]] = [
        ([{"request_id": "r0"}], "label"),
        ([{"request_id": "r0", "label": [1]}], "label"),
        ([{"request_id": "r0", "label": float("nan")}], "label"),
        ([{"label": 1}], "labels"),
        ([{"request_id": "r0", "customer_id": 1, "label": 1}], "labels"),
        ([{"request_id": "r0", "row": -1, "label": 1}], "row"),
    ]
    for bad, field in bad_labels:
        expect_error(InvalidInput, partial(store.ingest, "credit", bad), field)
    expect_error(InvalidInput, lambda: store.ingest("bad name", []), "endpoint")
    assert store.ingest("credit", []).stored == 0
    assert len(store.list("credit", limit=2)) == 2
    assert [x.request_id for x in store.list("credit", limit=1, offset=5)] == ["multi"]


def check_monitor_store(make_client: Callable[[], Any]) -> None:
    """Assert that ``make_client().monitors`` keeps the monitor store's contract (needs
    scikit-learn and pandas, for the model the monitored endpoint serves)."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from usina.errors import Conflict, NotFound

    client = make_client()
    train = pd.DataFrame({"x": [float(i % 10) for i in range(200)]})
    model = LogisticRegression().fit(train, [i % 10 >= 5 for i in range(200)])
    client.register_model(model, "credit-risk", input_example=train.head(2), reference=train)
    client.endpoints.create("credit", "models:/credit-risk/1")
    rows = [log_row(f"m{i}", T0 + i, {"x": float(9 - i % 3)}, i % 2) for i in range(60)]
    write_log(client.artifacts, rows)
    store = client.monitors

    spec = {
        "name": "watch",
        "endpoint": "credit",
        "window": "10m",
        "schedule": "@hourly",
        "metrics": ["latency_p99<=50ms", "error_rate<1%"],
        "alerts": ["email:ml-team@example.com"],
    }
    made = store.create(spec, now=T0)
    assert made.spec.window_s == 600 and made.spec.schedule == "@hourly"
    assert [t.text for t in made.spec.thresholds] == spec["metrics"]
    assert made.spec.alerts == ("email:ml-team@example.com",)
    assert store.get("watch") == made
    assert [m.name for m in store.list()] == ["watch"]
    assert [s.name for s in client.schedules.list()] == ["monitor.watch"]
    expect_error(Conflict, lambda: store.create(spec), "name")
    expect_error(
        InvalidInput, lambda: store.create({**spec, "name": "w2", "endpoint": "nope"}), "endpoint"
    )
    expect_error(
        InvalidInput, lambda: store.create({**spec, "name": "w2", "window": "299s"}), "window"
    )
    expect_error(
        InvalidInput, lambda: store.create({**spec, "name": "w2", "metrics": ["roc>1"]}), "metrics"
    )
    assert [m.name for m in store.list()] == ["watch"]
    expect_error(NotFound, lambda: store.get("other"), "name")

    client.labels.ingest("credit", [{"request_id": f"m{i}", "label": 1 - i % 2} for i in range(40)])
    run = store.run("watch", end=T0 + 600)
    assert run.status in ("ok", "breached"), run.error
    (version,) = run.figures["versions"]
    assert version["figures"]["requests"] == 60 and version["version"] == 1
    assert version["labelled"] == 40 and version["figures"]["accuracy"] == 0.0
    assert set(version["drift"]) == {"x", "prediction"}
    assert version["drift"]["x"]["drifted"], "live x is 7 to 9, training 0 to 9"
    assert any(b["kind"] == "drift" and b["name"] == "x" for b in run.breaches)
    later = store.run("watch", end=T0 + 7200)
    assert later.status == "no_data"
    assert [h.id for h in store.history("watch")] == [later.id, run.id]
    assert store.history("watch", limit=1, offset=1)[0].breaches == run.breaches
    store.delete("watch")
    assert store.list() == [] and client.schedules.list() == []
    expect_error(NotFound, lambda: store.delete("watch"), "name")
