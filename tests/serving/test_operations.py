"""Operations: Prometheus metrics per endpoint and version, and ``usina endpoints stats``."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson

from resources.fast_http import FastClient
from serving.conftest import run_usina, usina_json

GOOD = orjson.dumps({"instances": [{"age": 30, "income": 5.0, "debt": 1.0}]})
BAD = orjson.dumps({"instances": [{"age": "thirty", "income": 5.0, "debt": 1.0}]})


def test_metrics_per_endpoint_and_version(three_versions, serve) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk@champion")
    served = serve(client)
    http = FastClient(served.url)
    for _ in range(7):
        http.post("/v1/endpoints/credit:predict", GOOD)
    for _ in range(3):
        http.post("/invocations", orjson.dumps({"instances": [{"age": "x"}]}))
    http.close()
    text = httpx.get(f"{served.url}/metrics").text
    assert (
        'usina_requests_total{endpoint="credit",protocol="vertex",status="200",version="1"} 7.0'
        in text
    )
    assert (
        'usina_requests_total{endpoint="credit",protocol="mlflow",status="400",version="1"} 3.0'
        in text
    )
    assert 'usina_request_latency_seconds_count{endpoint="credit",version="1"} 10.0' in text
    assert 'usina_request_latency_seconds_bucket{endpoint="credit",le="0.005",version="1"}' in text


def test_usina_endpoints_stats(three_versions, serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk@champion")
    store.split("credit", {1: 50, 2: 50})
    served = serve(client)
    http = FastClient(served.url)
    for _ in range(60):
        http.post("/v1/endpoints/credit:predict", GOOD)
    for _ in range(20):
        http.post("/v1/endpoints/credit:predict", BAD)
    http.close()
    served.stop()
    stats = usina_json(client, "endpoints", "stats", "credit", cwd=tmp_path)
    assert [s["version"] for s in stats] == [1, 2]
    assert sum(s["requests"] for s in stats) == 80
    assert sum(s["errors"] for s in stats) == 20
    for s in stats:
        assert 0 < s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"]
        assert s["error_rate"] == s["errors"] / s["requests"]
        assert s["dropped"] == {}  # the log kept every row
    table = run_usina(client, "endpoints", "stats", "credit", cwd=tmp_path).stdout.decode()
    assert "p99 ms" in table and "v1" in table and "v2" in table and "dropped" in table
