"""Contracts of the label and monitor stores, and logged traffic written by the request log's
own file functions, for them (and tests) to read.

``check_label_store`` takes a factory of fresh ``usina.Client`` objects, on a database or
through a server: the traffic is written through the client's artifact store either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    assert "customer_id='999'" in str(exc)
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
    for bad, field in (
        ([{"request_id": "r0"}], "label"),
        ([{"request_id": "r0", "label": [1]}], "label"),
        ([{"request_id": "r0", "label": float("nan")}], "label"),
        ([{"label": 1}], "labels"),
        ([{"request_id": "r0", "customer_id": 1, "label": 1}], "labels"),
        ([{"request_id": "r0", "row": -1, "label": 1}], "row"),
    ):
        expect_error(InvalidInput, lambda bad=bad: store.ingest("credit", bad), field)
    expect_error(InvalidInput, lambda: store.ingest("bad name", []), "endpoint")
    assert store.ingest("credit", []).stored == 0
    assert len(store.list("credit", limit=2)) == 2
    assert [x.request_id for x in store.list("credit", limit=1, offset=5)] == ["multi"]
