"""The REST API's edges: error shapes, limits, the Host guard, CORS, health and metrics."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from resources.servers import ThreadServer
from usina.server import ServerConfig, create_app

on_sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def api(live_server) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=live_server.url) as http:
        yield http


def error(response: httpx.Response, status: int, code: str, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == code, body
    if field is not None:
        assert body["error"]["field"] == field, body
    assert body["error"]["message"]
    return str(body["error"]["message"])


@on_sqlite
def test_errors_have_one_shape_and_name_the_field(api: httpx.Client) -> None:
    error(api.get("/api/v1/runs/not-hex"), 400, "invalid_input", "run_id")
    error(api.get(f"/api/v1/runs/{'0' * 32}"), 404, "not_found", "run_id")
    error(api.get("/api/v1/models/ghost"), 404, "not_found", "name")
    error(api.get("/api/v1/runs", params={"limit": 0}), 422, "invalid_input", "limit")
    error(api.post("/api/v1/runs", json={"experiment": 3}), 422, "invalid_input", "experiment")
    error(api.post("/api/v1/runs", content=b"{not json"), 422, "invalid_input", "body")
    error(
        api.post("/api/v1/runs", json={"experiment": "e", "typo": 1}), 422, "invalid_input", "typo"
    )
    error(api.get("/api/v1/nothing-here"), 404, "not_found")
    error(api.delete("/api/v1/runs"), 405, "method_not_allowed")
    run = api.post("/api/v1/runs", json={"experiment": "e", "params": {"C": "1"}}).json()
    batch = {"params": {"C": "2"}}
    error(api.post(f"/api/v1/runs/{run['id']}/batch", json=batch), 409, "conflict", "C")
    error(
        api.post(
            f"/api/v1/runs/{run['id']}/batch", json={"metrics": [{"key": "bad key!", "value": 1}]}
        ),
        400,
        "invalid_input",
        "metric",
    )


@on_sqlite
def test_conflicts_with_the_stored_state(api: httpx.Client) -> None:
    blob = api.put("/api/v1/artifacts/" + _blob_key(b"m"), content=b"m")
    assert blob.status_code == 201, blob.text
    version = {
        "digest": blob.json()["sha256"],
        "size": 1,
        "format": "sklearn",
        "model_class": "x.Y",
    }
    assert api.post("/api/v1/models/m/versions", json=version).json()["version"] == 1
    error(
        api.put("/api/v1/models/m/aliases/champion", json={"version": 5}),
        409,
        "missing_reference",
        "version",
    )
    error(
        api.post("/api/v1/models/m/aliases/champion/rollback", json={}), 404, "not_found", "alias"
    )
    missing = {**version, "digest": "f" * 64}
    error(api.post("/api/v1/models/m/versions", json=missing), 404, "not_found", "digest")


def _blob_key(data: bytes) -> str:
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    return f"sha256/{digest[:2]}/{digest}"


@on_sqlite
def test_blobs_must_match_their_digest_and_are_not_deleted(api: httpx.Client) -> None:
    wrong = api.put("/api/v1/artifacts/" + _blob_key(b"a"), content=b"b")
    error(wrong, 400, "invalid_input", "key")
    assert api.put("/api/v1/artifacts/" + _blob_key(b"a"), content=b"a").status_code == 201
    error(api.delete("/api/v1/artifacts/" + _blob_key(b"a")), 409, "conflict", "key")
    assert api.head("/api/v1/artifacts/" + _blob_key(b"a")).status_code == 200
    assert api.head("/api/v1/artifacts/nothing").status_code == 404


@on_sqlite
def test_lists_page_and_filter(api: httpx.Client) -> None:
    for i in range(5):
        api.post(
            "/api/v1/runs", json={"experiment": "paged", "name": f"r{i}", "tags": {"i": str(i)}}
        )
    first = api.get("/api/v1/runs", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_offset"] == 2
    last = api.get("/api/v1/runs", params={"limit": 2, "offset": 4}).json()
    assert len(last["items"]) == 1 and last["next_offset"] is None
    tagged = api.get("/api/v1/runs", params=[("tag", "i=3")]).json()["items"]
    assert [r["name"] for r in tagged] == ["r3"]
    error(api.get("/api/v1/runs", params={"tag": "no-equals"}), 400, "invalid_input", "tag")
    error(api.get("/api/v1/runs", params={"status": "asleep"}), 400, "invalid_input", "status")
    assert (
        api.get("/api/v1/experiments", params={"name": "page"}).json()["items"][0]["run_count"] == 5
    )


@on_sqlite
def test_health_readiness_metrics_and_docs(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready"}
    api.get("/api/v1/models")
    metrics = api.get("/metrics").text
    assert 'usina_http_requests_total{method="GET",route="/api/v1/models",status="200"}' in metrics
    document = api.get("/api/v1/openapi.json").json()
    assert "/api/v1/runs/{run_id}/batch" in document["paths"]
    docs = api.get("/docs")
    assert docs.status_code == 200 and "/docs/static/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower(), "docs assets are served locally"
    assert api.get("/docs/static/swagger-ui-bundle.js").status_code == 200


@on_sqlite
def test_foreign_host_headers_are_refused(api: httpx.Client) -> None:
    message = error(
        api.get("/api/v1/models", headers={"Host": "attacker.example"}),
        400,
        "invalid_input",
        "Host",
    )
    assert "--allowed-host" in message
    assert api.get("/api/v1/models", headers={"Host": "localhost:1234"}).status_code == 200
    assert api.get("/healthz", headers={"Host": "[::1]:80"}).status_code == 200


@on_sqlite
def test_cors_is_off_by_default(api: httpx.Client) -> None:
    response = api.get("/api/v1/models", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in response.headers


@on_sqlite
def test_limits_and_configured_cors(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = ServerConfig(
        db_url=db_url,
        artifacts=str(tmp_path / "a"),
        cors_origins=("http://ui.example",),
        max_upload_bytes=1000,
    )
    with ThreadServer(create_app(config)) as url, httpx.Client(base_url=url) as http:
        error(
            http.put("/api/v1/artifacts/big.bin", content=b"x" * 1001),
            413,
            "payload_too_large",
            "body",
        )

        def chunked() -> Iterator[bytes]:
            for _ in range(5):
                yield b"y" * 400

        error(
            http.put("/api/v1/artifacts/big.bin", content=chunked()),
            413,
            "payload_too_large",
            "body",
        )
        assert http.head("/api/v1/artifacts/big.bin").status_code == 404, "nothing half-written"
        huge = b'{"experiment": "' + b"e" * (17 * 2**20) + b'"}'
        error(http.post("/api/v1/runs", content=huge), 413, "payload_too_large", "body")
        allowed = http.get("/api/v1/models", headers={"Origin": "http://ui.example"})
        assert allowed.headers["access-control-allow-origin"] == "http://ui.example"
        other = http.get("/api/v1/models", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_every_route_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "server.md").read_text()
    app = create_app(ServerConfig(db_url="sqlite://", artifacts="memory://"))
    missing = [
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if f"`{method.upper()} {path.removeprefix('/api/v1')}`" not in doc
    ]
    assert missing == []


@on_sqlite
def test_a_bug_answers_500_in_the_error_shape_and_keeps_the_connection(
    db_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(ServerConfig(db_url=db_url, artifacts=str(tmp_path / "a")))

    # An undeclared route would be refused (403) before it runs: the bug sits on a path the
    # permission table lists as public (usina serve's liveness), so the guard lets it through.
    @app.get("/ping")
    def boom() -> None:
        raise RuntimeError("internal-detail-42")

    with ThreadServer(app, log_level="critical") as url, httpx.Client(base_url=url) as http:
        message = error(http.get("/ping"), 500, "internal")
        assert "internal-detail-42" not in message, "internals stay in the log"
        assert http.get("/healthz").status_code == 200, "the same connection still answers"


@on_sqlite
def test_run_artifacts_download_by_path(live_server, remote_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    client = remote_factory()
    source = tmp_path / "report.txt"
    source.write_bytes(b"quality report")
    with client.start_run("files") as run:
        run.log_artifact(source, "reports/q1.txt")
    with httpx.Client(base_url=live_server.url) as http:
        got = http.get(f"/api/v1/runs/{run.id}/artifacts/reports/q1.txt")
        assert got.status_code == 200 and got.content == b"quality report"
        assert got.headers["x-usina-sha256"] == client.tracking.get_run(run.id).artifacts[0].digest
        error(http.get(f"/api/v1/runs/{run.id}/artifacts/reports/q2.txt"), 404, "not_found", "path")


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_values_the_database_refuses_are_bad_input(api: httpx.Client) -> None:
    run = api.post("/api/v1/runs", json={"experiment": "nul"}).json()
    body = {"params": {"p": "a\u0000b"}}
    error(api.post(f"/api/v1/runs/{run['id']}/batch", json=body), 400, "invalid_input")
    error(api.get("/api/v1/runs", params={"experiment": "a\u0000b"}), 400, "invalid_input")
    assert api.get("/healthz").status_code == 200


@on_sqlite
def test_artifact_keys_that_cannot_be_files_are_refused(api: httpx.Client) -> None:
    assert api.put("/api/v1/artifacts/reports/a", content=b"a").status_code == 201
    error(api.put("/api/v1/artifacts/reports/a/b", content=b"b"), 409, "conflict", "key")
    error(api.put("/api/v1/artifacts/reports", content=b"r"), 409, "conflict", "key")
    error(api.delete("/api/v1/artifacts/reports"), 409, "conflict", "key")
    assert api.delete("/api/v1/artifacts/reports/a/b").status_code == 204
    error(api.put("/api/v1/artifacts/" + "x" * 201, content=b"x"), 400, "invalid_key", "key")
    long_prefix = api.get("/api/v1/artifacts", params={"prefix": "0" * 300})
    error(long_prefix, 400, "invalid_key", "key")
