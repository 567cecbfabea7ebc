"""The figures a policy decides on: the latest labelled window of an endpoint's traffic (the
retraining's data and the gate's), a version's offline figures on it (the gate), and each
version's live figures over a window of the request log (the canary and the watch period)."""

from __future__ import annotations

import builtins
import time
import warnings
from dataclasses import dataclass
from typing import Any

import orjson

from usina.policies.spec import GateRule

LABEL = "label"


def labels_table(client: Any, endpoint: str, since: float) -> Any:
    """The endpoint's labels received since ``since`` as an Arrow table (request_id, row,
    label as JSON text), on the database or through a server."""
    import pyarrow as pa

    store = client.labels
    if hasattr(store, "table"):
        return store.table(endpoint, since)
    ids: list[str] = []
    rows: list[int] = []
    values: list[str] = []
    offset = 0
    while True:
        page = store.list(endpoint, since=since, limit=1000, offset=offset)
        for label in page:
            ids.append(label.request_id)
            rows.append(label.row)
            values.append(orjson.dumps(label.label).decode())
        if len(page) < 1000:
            break
        offset += len(page)
    return pa.table(
        {
            "request_id": pa.array(ids, pa.string()),
            "row": pa.array(rows, pa.int64()),
            "label": pa.array(values, pa.string()),
        }
    )


def labelled_window(client: Any, endpoint: str, start: float, end: float, limit: int) -> Any:
    """The labelled rows of ``endpoint``'s requests in ``[start, end)``: each row's inputs as
    columns, and its label as ``label`` (the newest ``limit`` rows); an empty table when none."""
    import pyarrow as pa

    from usina.monitoring.logwindow import connect

    labels = labels_table(client, endpoint, start)
    if labels.num_rows == 0:
        return pa.table({})
    conn = connect(client.artifacts, endpoint, start, end, load=True)
    try:
        conn.register("labels_now", labels)
        found = conn.execute(
            """
            select json_extract(r.inputs, l.row), l.label
            from requests r join labels_now l using (request_id)
            where r.endpoint = ? and not r.shadow and r.status < 400
              and r.time >= to_timestamp(?) and r.time < to_timestamp(?)
            order by r.time desc, r.request_id, l.row limit ?
            """,
            [endpoint, start, end, limit],
        ).fetchall()
    finally:
        conn.close()
    records = []
    for inputs, label in reversed(found):
        row = orjson.loads(inputs) if inputs else None
        if not isinstance(row, dict):
            continue
        records.append({**row, LABEL: orjson.loads(label)})
    return pa.Table.from_pylist(records) if records else pa.table({})


@dataclass(frozen=True)
class GateReport:
    """The gate's verdict: both versions' figures on the same rows, and each rule's result."""

    passed: bool
    rows: int
    candidate: dict[str, float]
    champion: dict[str, float]
    rules: builtins.list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "rows": self.rows,
            "candidate": self.candidate,
            "champion": self.champion,
            "rules": self.rules,
        }


def offline_figures(model: Any, table: Any) -> dict[str, float]:
    """``model``'s figures on ``table`` (its ``label`` column the truth): quality, as the
    monitors compute it from answers, and per-row prediction latency (ms)."""
    from usina.monitoring.quality import quality_of

    frame = table.drop_columns([LABEL]).to_pandas()
    truth = table.column(LABEL).to_pylist()
    latencies = []
    # A library's warnings (feature names, say) are not the gate's business.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        answers = model.predict(frame)
        for i in range(min(len(frame), 50)):  # single-row calls, the way an endpoint answers
            clock = time.perf_counter()
            model.predict(frame.iloc[i : i + 1])
            latencies.append((time.perf_counter() - clock) * 1000.0)
    predictions = answers.tolist() if hasattr(answers, "tolist") else list(answers)
    _, figures = quality_of(predictions, truth)
    if latencies:
        import numpy as np

        for name, q in (("latency_p50", 50), ("latency_p95", 95), ("latency_p99", 99)):
            figures[name] = float(np.percentile(latencies, q))
    return {k: float(v) for k, v in figures.items()}


def gate(
    rules: tuple[GateRule, ...], candidate: Any, champion: Any, tables: builtins.list[Any]
) -> GateReport:
    """Evaluate ``candidate`` against ``champion`` (models) on the same rows (the recent
    labelled window and the holdout, concatenated) and check every rule."""
    import pyarrow as pa

    usable = [t for t in tables if t.num_rows]
    if not usable:
        return GateReport(
            False,
            0,
            {},
            {},
            [{"rule": "data", "passed": False, "why": "no labelled rows to evaluate on"}],
        )
    table = pa.concat_tables(usable, promote_options="default") if len(usable) > 1 else usable[0]
    cand = offline_figures(candidate, table)
    champ = offline_figures(champion, table) if champion is not None else {}
    results = []
    for rule in rules:
        ok = rule.check(cand, champ)
        results.append(
            {
                "rule": rule.text,
                "passed": ok,
                "value": cand.get(rule.metric),
                "bound": rule.bound(champ),
            }
        )
    return GateReport(all(r["passed"] for r in results), table.num_rows, cand, champ, results)


def live_figures(
    client: Any, endpoint: str, start: float, end: float, *, shadow: bool = False
) -> dict[int, dict[str, float]]:
    """Each version's live figures over ``[start, end)``: operations, and quality from the
    labels received (``labelled`` counts them). With ``shadow``, those of the shadow answers
    (a shadowed version answers a copy of each request; its caller never sees it)."""
    import duckdb

    from usina.monitoring.logwindow import connect
    from usina.monitoring.quality import window_figures

    labels = labels_table(client, endpoint, start)
    if not shadow:
        conn = connect(client.artifacts, endpoint, start, end, load=True)
    else:
        every = connect(client.artifacts, endpoint, start, end)
        try:
            rows = every.sql(
                "select * replace (false as shadow) from requests where endpoint = $endpoint "
                "and shadow and time >= to_timestamp($start) and time < to_timestamp($end)",
                params={"endpoint": endpoint, "start": start, "end": end},
            ).to_arrow_table()
        finally:
            every.close()
        conn = duckdb.connect()
        conn.register("requests", rows)
    try:
        found = window_figures(conn, endpoint, start, end, labels)
    finally:
        conn.close()
    return {
        int(f.version): {**f.figures(), "labelled": float(f.labelled)}
        for f in found
        if f.version is not None
    }
