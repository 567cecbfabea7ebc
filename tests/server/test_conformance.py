"""One suite, two clients: the SQL stores directly and the HTTP stores through a server, each
on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.keys import some_keys
from usina.artifacts.http import HttpArtifactStore
from usina.audit import SqlAuditStore
from usina.store import Database
from usina.testing import (
    check_artifact_store,
    check_audit_store,
    check_dataset_store,
    check_endpoint_store,
    check_model_round_trip,
    check_pipeline_store,
    check_registry_store,
    check_schedule_store,
    check_secret_store,
    check_tracking_store,
)


@pytest.fixture(params=["direct", "http"])
def make_client(request: pytest.FixtureRequest, db_url: str, client_factory):  # type: ignore[no-untyped-def]
    if request.param == "direct":
        return lambda: client_factory(db_url)
    return request.getfixturevalue("remote_factory")


def test_tracking_store_conformance(make_client) -> None:  # type: ignore[no-untyped-def]
    check_tracking_store(make_client)


def test_registry_store_conformance(make_client) -> None:  # type: ignore[no-untyped-def]
    check_registry_store(make_client)


def test_pipeline_store_conformance(make_client) -> None:  # type: ignore[no-untyped-def]
    check_pipeline_store(make_client)


def test_schedule_store_conformance(make_client) -> None:  # type: ignore[no-untyped-def]
    check_schedule_store(make_client)


def test_endpoint_store_conformance(make_client) -> None:  # type: ignore[no-untyped-def]
    check_endpoint_store(make_client)


def test_dataset_store_conformance(make_client) -> None:  # type: ignore[no-untyped-def]
    check_dataset_store(make_client)


def test_audit_store_conformance(make_client, request: pytest.FixtureRequest, db_url: str) -> None:  # type: ignore[no-untyped-def]
    if "remote_factory" not in request.fixturenames:
        check_audit_store(make_client)
        return
    # Through a server the log is read-only; records go in on the server's database.
    db = Database(db_url)
    try:
        check_audit_store(make_client, lambda: SqlAuditStore(db))
    finally:
        db.dispose()


def test_model_round_trip(make_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    check_model_round_trip(make_client, model, tmp_path)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_http_artifact_store_conformance(live_server) -> None:  # type: ignore[no-untyped-def]
    store = HttpArtifactStore(live_server.url)
    try:
        check_artifact_store(lambda: store)
    finally:
        store.server.close()


@pytest.fixture(params=["direct", "http"])
def make_keyed_client(
    request: pytest.FixtureRequest, db_url: str, client_factory, tmp_path: Path, serve_app
):  # type: ignore[no-untyped-def]
    """Clients of an installation with a master key: directly, or through a server that has
    it (the client of a server holds no key)."""
    keys = some_keys()
    if request.param == "direct":
        return lambda: client_factory(db_url, keys=keys)
    from usina.client import Client
    from usina.server import ServerConfig, create_app

    config = ServerConfig(db_url=db_url, artifacts=str(tmp_path / "server-artifacts"), keys=keys)
    url = serve_app(create_app(config))
    made: list[Client] = []
    request.addfinalizer(lambda: [c.close() for c in made])

    def make() -> Client:
        made.append(Client(url))
        return made[-1]

    return make


def test_secret_store_conformance(make_keyed_client) -> None:  # type: ignore[no-untyped-def]
    check_secret_store(make_keyed_client)
