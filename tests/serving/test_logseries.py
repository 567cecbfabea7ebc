"""The request log's figures over time (the web console's endpoint charts) agree with the
window's figures that ``usina endpoints stats`` gives."""

from __future__ import annotations

import time
from pathlib import Path

from usina.artifacts import open_artifact_store
from usina.serving.logfiles import LogRow, row_file
from usina.serving.logquery import endpoint_series, endpoint_stats


def test_series_buckets_and_window_figures_match_endpoint_stats(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "artifacts"), None)
    now = time.time()
    rows = [
        LogRow(
            f"r{i}",
            now - 3000 + i * 10,  # 300 rows over the last 50 minutes
            "credit",
            "credit-risk",
            1 + i % 2,
            i % 50 == 0,  # every 50th a shadow answer, left out
            "vertex",
            500 if i % 10 == 0 else 200,
            float(i % 37),
            None,
            None,
            None,
        )
        for i in range(300)
    ]
    key, data = row_file(rows, list(range(len(rows))), 0.0, "credit", "2026-01-01", "a.parquet")
    store.write(key, data)
    series = endpoint_series(store, "credit", 3600, 12)
    assert series.width == 300
    exact = endpoint_stats(store, "credit", 3600)
    assert series.stats == exact
    assert sum(p.requests for p in series.points) == sum(s.requests for s in exact) == 294
    assert {p.version for p in series.points} == {1, 2}
    assert all(p.p50_ms is not None and p.p50_ms <= p.p99_ms for p in series.points)
    assert endpoint_series(store, "other", 3600).points == []
