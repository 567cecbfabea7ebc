"""Traffic: a 90/10 split lands within ±2%; shadow answers are logged and never returned;
a version pinned in the URL answers; micro-batching returns each request its own rows."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import orjson
import pytest

from resources.fast_http import FastClient
from usina.serving import query_log

ROW = {"age": 30, "income": 5.0, "debt": 1.0}


@pytest.mark.slow
def test_split_90_10_lands_within_2_percent_over_10000_requests(
    three_versions, usina_serve
) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk@champion", sample_rate=0.01)
    store.split("credit", {1: 90, 2: 10})
    served = usina_serve(client)  # its own process: the client here does not slow it down
    counts: Counter[str | None] = Counter()
    http = FastClient(served.url)
    body = orjson.dumps({"instances": [ROW]})
    for _ in range(10_000):
        status, version, answer = http.post("/v1/endpoints/credit:predict", body)
        assert status == 200
        assert orjson.loads(answer)["predictions"] == [int(version or 0) * 10]
        counts[version] += 1
    http.close()
    assert set(counts) == {"1", "2"}
    assert abs(counts["1"] / 10_000 - 0.90) <= 0.02, counts
    assert abs(counts["2"] / 10_000 - 0.10) <= 0.02, counts


def test_shadow_answers_are_logged_and_never_returned(three_versions, serve) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk@champion")
    store.set_shadow("credit", 3)
    served = serve(client)
    ids = []
    with httpx.Client(base_url=served.url) as http:
        for i in range(50):
            r = http.post(
                "/v1/endpoints/credit:predict",
                json={"instances": [ROW, ROW]},
                headers={"x-request-id": f"r{i}"},
            )
            assert r.status_code == 200
            assert r.json()["predictions"] == [10, 10]
            assert r.json()["modelVersionId"] == "1"
            ids.append(f"r{i}")
    served.stop()  # graceful: the log is flushed
    rows = query_log(
        client.artifacts,
        "select request_id, version, outputs from requests where shadow order by request_id",
    ).rows
    assert sorted(r[0] for r in rows) == sorted(ids)
    assert {(r[1], r[2]) for r in rows} == {(3, "[30,30]")}
    primary = query_log(client.artifacts, "select count(*) from requests where not shadow").rows
    assert primary == [(50,)]


def test_version_pinned_in_the_url(three_versions, serve) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk@champion")
    store.split("credit", {1: 50, 2: 50})
    served = serve(client)
    body = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [30, 5.0, 1.0]}]}
    for version in ("1", "2"):
        for _ in range(10):
            r = httpx.post(f"{served.url}/v2/models/credit/versions/{version}/infer", json=body)
            assert r.json()["model_version"] == version
            assert r.json()["outputs"][0]["data"] == [int(version) * 10]


def test_micro_batching_hands_each_request_its_own_rows(endpoints, serve, gbc, credit_data) -> None:  # type: ignore[no-untyped-def]
    client, store = endpoints
    x, _ = credit_data
    client.register_model(gbc, "credit-risk", input_example=x.head())
    store.create("credit", "models:/credit-risk/1", max_batch_size=16, max_latency_ms=5)
    served = serve(client)
    rows = x.head(64)
    expected = gbc.predict(rows).tolist()
    records = rows.to_dict(orient="records")

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=served.url) as http:
            calls = [
                http.post("/v1/endpoints/credit:predict", json={"instances": [records[i]]})
                for i in range(64)
            ]
            calls.append(
                http.post("/v1/endpoints/credit:predict", json={"instances": [{"age": "old"}]})
            )
            return await asyncio.gather(*calls)

    answers = asyncio.run(burst())
    assert [a.json()["predictions"][0] for a in answers[:64]] == expected
    assert answers[64].status_code == 400
