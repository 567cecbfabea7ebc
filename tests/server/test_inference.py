"""``usina server`` answers the inference routes of ``usina serve`` at the same paths, beside the
REST API: the three protocols, their error shapes behind the server's guards, the serving
metrics on the server's ``/metrics`` (one process and several workers), and ``--no-serving``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

from resources.waiting import wait_until
from serving.conftest import protocol_error
from usina.artifacts import blob_key
from usina.client import Client
from usina.server import ServerConfig, create_app
from usina.serving import ServingConfig, SqlEndpointStore

on_sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

ROWS = pd.DataFrame(
    {
        "age": np.array([25, 41, 58, 33, 47, 62], dtype="int64"),
        "income": [1.8, 5.2, 7.9, 3.1, 2.2, 8.5],
        "debt": [2.5, 0.9, 0.4, 1.0, 3.1, 0.2],
    }
)
TARGET = [1, 0, 0, 1, 1, 0]
FAST = ServingConfig(poll_interval=0.2, log_flush_interval=0.2, log_file_interval=0.2)


class Credit:
    """A registered model behind the endpoint ``credit``, and a server over the same stores."""

    def __init__(self, client: Client, url: str, expected: list[int]) -> None:
        self.client = client
        self.url = url
        self.expected = expected
        self.http = httpx.Client(base_url=url)


def _register(client: Client) -> list[int]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(ROWS, TARGET)
    client.register_model(model, "credit-risk", input_example=ROWS.head(2))
    client.set_alias("credit-risk", "champion", 1)
    SqlEndpointStore(client.db, "tester", artifacts=client.artifacts).create(
        "credit", "models:/credit-risk@champion"
    )
    return [int(p) for p in model.predict(ROWS)]


@pytest.fixture
def credit_server(db_url: str, client_factory, serve_app) -> Callable[..., Credit]:  # type: ignore[no-untyped-def]
    """Start a server with the given serving config over a client holding the endpoint."""
    client = client_factory(db_url)
    expected = _register(client)
    made: list[Credit] = []

    def start(serving: ServingConfig | None = FAST) -> Credit:
        config = ServerConfig(db_url=db_url, artifacts=str(client.artifacts.root), serving=serving)
        credit = Credit(client, serve_app(create_app(config)), expected)
        made.append(credit)
        return credit

    yield start
    for credit in made:
        credit.http.close()


def _server_error(response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field


def _eventually(request: Callable[[], httpx.Response]) -> httpx.Response:
    """The first answer that is not a 404: the server picks new endpoints up on a poll."""

    def picked_up() -> httpx.Response | None:
        response = request()
        return response if response.status_code != 404 else None

    return wait_until(picked_up, 30, "the endpoint to be picked up")


def test_three_protocols_answer_on_the_server(credit_server) -> None:  # type: ignore[no-untyped-def]
    credit = credit_server()
    http, expected = credit.http, credit.expected
    records = ROWS.to_dict(orient="records")

    vertex = http.post("/v1/endpoints/credit:predict", json={"instances": records})
    assert vertex.status_code == 200, vertex.text
    assert vertex.json()["predictions"] == expected
    assert vertex.headers["usina-model-version"] == "1"

    v2 = http.post(
        "/v2/models/credit/infer",
        json={
            "id": "r-1",
            "inputs": [
                {"name": "age", "shape": [6], "datatype": "INT64", "data": ROWS["age"].tolist()},
                {
                    "name": "income",
                    "shape": [6],
                    "datatype": "FP64",
                    "data": ROWS["income"].tolist(),
                },
                {"name": "debt", "shape": [6], "datatype": "FP64", "data": ROWS["debt"].tolist()},
            ],
        },
    )
    assert v2.status_code == 200, v2.text
    assert v2.json()["outputs"][0]["data"] == expected and v2.json()["id"] == "r-1"
    assert v2.headers["usina-model-version"] == "1"

    for path in ("/invocations", "/v1/endpoints/credit/invocations"):
        mlflow = http.post(path, json={"dataframe_records": records})
        assert mlflow.status_code == 200, mlflow.text
        assert mlflow.json() == {"predictions": expected}
        assert mlflow.headers["usina-model-version"] == "1"

    assert [e["name"] for e in http.get("/v1/endpoints").json()] == ["credit"]
    assert http.get("/v1/endpoints/credit").json()["serving"] == [{"version": 1, "traffic": 100.0}]
    assert http.get("/v2/health/ready").json() == {"ready": True}
    assert http.get("/v2/models/credit/ready").status_code == 200

    # The REST API is untouched, and the inference routes stay out of its OpenAPI document.
    models = http.get("/api/v1/models").json()["items"]
    assert [m["name"] for m in models] == ["credit-risk"]
    assert http.get("/readyz").status_code == 200
    paths = http.get("/api/v1/openapi.json").json()["paths"]
    assert paths and all(p.startswith("/api/v1/") for p in paths)
    # usina serve's own operations routes are the server's to answer, not duplicated.
    assert http.get("/ping").status_code == 404
    assert http.get("/health").status_code == 404


@on_sqlite
def test_errors_keep_the_inference_shapes_behind_the_server_guards(credit_server) -> None:  # type: ignore[no-untyped-def]
    credit = credit_server(ServingConfig(poll_interval=0.2, max_body_bytes=4096))
    http = credit.http
    bad = http.post(
        "/v1/endpoints/credit:predict",
        json={"instances": [{"age": 30, "income": "high", "debt": 1.0}]},
    )
    assert bad.status_code == 400
    assert protocol_error(bad)[1] == "income"

    ghost = http.post("/v1/endpoints/ghost:predict", json={"instances": [[1, 2.0, 3.0]]})
    assert ghost.status_code == 404 and "ghost" in protocol_error(ghost)[0]
    assert http.get("/v2/models/credit/versions/9").status_code == 404

    # Over the serving limit (4 KiB), under the server's: the inference app's 413.
    big = orjson.dumps({"instances": [[30, 5.0, 1.0]] * 1000})
    too_big = http.post("/v1/endpoints/credit:predict", content=big)
    assert too_big.status_code == 413 and "limit" in protocol_error(too_big)[0]

    # A version that cannot load: 503 naming the failure.
    from sklearn.dummy import DummyClassifier

    other = DummyClassifier(strategy="constant", constant=1).fit(ROWS, TARGET)
    version = credit.client.register_model(other, "credit-risk", input_example=ROWS.head(2))
    credit.client.artifacts.write(blob_key(version.digest), b"not the model any more")
    SqlEndpointStore(credit.client.db, "tester", artifacts=credit.client.artifacts).create(
        "broken", "models:/credit-risk/2"
    )
    broken = _eventually(lambda: http.post("/v1/endpoints/broken:predict", json={"instances": []}))
    assert broken.status_code == 503 and "no loaded version" in protocol_error(broken)[0]

    # The server's Host guard answers first, in the server's shape.
    foreign = http.post(
        "/v1/endpoints/credit:predict", content=big, headers={"Host": "attacker.example"}
    )
    _server_error(foreign, 400, "Host")


@on_sqlite
def test_the_servers_body_limit_applies_to_inference(credit_server) -> None:  # type: ignore[no-untyped-def]
    credit = credit_server(ServingConfig(poll_interval=0.2, max_body_bytes=64 * 2**20))
    body = b'{"instances": [' + b" " * (17 * 2**20) + b"]}"
    r = credit.http.post("/v1/endpoints/credit:predict", content=body)
    _server_error(r, 413, "body")

    def streamed() -> Iterator[bytes]:  # no Content-Length: the guard counts while reading
        for start in range(0, len(body), 2**20):
            yield body[start : start + 2**20]

    r = credit.http.post("/v1/endpoints/credit:predict", content=streamed())
    assert r.status_code == 413, r.text


@on_sqlite
def test_server_metrics_include_the_serving_metrics(credit_server) -> None:  # type: ignore[no-untyped-def]
    credit = credit_server()
    http = credit.http
    row = {"instances": [[30, 5.0, 1.0]]}
    for _ in range(3):
        assert http.post("/v1/endpoints/credit:predict", json=row).status_code == 200
    assert http.post("/invocations", json={"instances": [{"age": "x"}]}).status_code == 400
    assert http.post("/v1/endpoints/made-up-7f3a:predict", json=row).status_code == 404

    text = http.get("/metrics").text
    assert (
        'usina_requests_total{endpoint="credit",protocol="vertex",status="200",version="1"} 3.0'
        in text
    )
    assert (
        'usina_requests_total{endpoint="credit",protocol="mlflow",status="400",version="1"} 1.0'
        in text
    )
    assert 'usina_request_latency_seconds_count{endpoint="credit",version="1"} 4.0' in text
    assert "# TYPE usina_version_load_failures_total counter" in text
    # The server's HTTP metrics label inference requests by route template: bounded labels.
    assert (
        'usina_http_requests_total{method="POST",route="/v1/endpoints/{name}:predict",'
        'status="200"}' in text
    )
    assert 'route="/invocations",status="400"' in text
    assert "made-up-7f3a" not in text
    assert text.count("# TYPE usina_requests_total counter") == 1


@on_sqlite
def test_no_serving_leaves_the_inference_routes_404(credit_server) -> None:  # type: ignore[no-untyped-def]
    credit = credit_server(serving=None)
    http = credit.http
    for method, path in (
        ("POST", "/v1/endpoints/credit:predict"),
        ("POST", "/v2/models/credit/infer"),
        ("POST", "/invocations"),
        ("GET", "/v1/endpoints"),
        ("GET", "/v2/health/ready"),
    ):
        r = http.request(method, path, json={"instances": [[30, 5.0, 1.0]]})
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "not_found"
    assert [m["name"] for m in http.get("/api/v1/models").json()["items"]] == ["credit-risk"]
    assert "usina_requests_total" not in http.get("/metrics").text


def test_the_setting_turns_serving_off_and_follows_usina_serve(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from usina.cli.serve import build_app
    from usina.settings import Settings

    monkeypatch.setenv("USINA_HOME", str(tmp_path))
    monkeypatch.setenv("USINA_SERVE_POLL_INTERVAL", "1.5")
    monkeypatch.setenv("USINA_SERVE_MAX_BODY_BYTES", "65536")
    monkeypatch.setenv("USINA_SERVE_ENDPOINT", "credit")
    monkeypatch.setenv("USINA_REQUEST_LOG_FLUSH_MS", "250")
    monkeypatch.setenv("USINA_REQUEST_LOG_FILE_MS", "750")
    serving = ServerConfig.from_settings(Settings()).serving
    assert serving is not None
    assert serving == build_app().state.service.config
    assert serving.poll_interval == 1.5 and serving.default_endpoint == "credit"

    monkeypatch.setenv("USINA_SERVER_SERVING", "false")
    assert ServerConfig.from_settings(Settings()).serving is None


def _usina_server_env(client: Client) -> dict[str, str]:
    return {"USINA_DB_URL": client.db.url, "USINA_ARTIFACTS": str(client.artifacts.root)}


def test_usina_server_no_serving(sqlite_url: str, client_factory, start_server) -> None:  # type: ignore[no-untyped-def]
    client = client_factory(sqlite_url)
    _register(client)
    server = start_server("--no-serving", "--no-scheduler", env=_usina_server_env(client))
    r = httpx.post(f"{server.url}/v1/endpoints/credit:predict", json={"instances": [[30, 5.0, 1]]})
    assert r.status_code == 404
    assert httpx.get(f"{server.url}/api/v1/models").status_code == 200


@pytest.mark.slow
def test_metrics_summed_over_workers(sqlite_url: str, client_factory, start_server) -> None:  # type: ignore[no-untyped-def]
    client = client_factory(sqlite_url)
    expected = _register(client)
    server = start_server("--workers", "2", "--no-scheduler", env=_usina_server_env(client))
    records = ROWS.to_dict(orient="records")
    for _ in range(10):
        # A fresh connection each time, so both workers get a share.
        r = httpx.post(f"{server.url}/v1/endpoints/credit:predict", json={"instances": records})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == expected
    # Each worker moves its tallies into the shared files every poll interval (0.5 s), so
    # the scrape that answers may see the other worker's requests that much later.
    ten = 'usina_requests_total{endpoint="credit",protocol="vertex",status="200",version="1"} 10.0'

    def summed() -> str | None:
        scraped = httpx.get(f"{server.url}/metrics").text
        return scraped if ten in scraped else None

    text = wait_until(summed, 10, "the workers' metrics never summed to 10 requests")
    served = re.search(
        r'usina_http_requests_total\{method="POST",route="/v1/endpoints/\{name\}:predict",'
        r'status="200"\} (\S+)',
        text,
    )
    assert served is not None and float(served.group(1)) == 10.0
