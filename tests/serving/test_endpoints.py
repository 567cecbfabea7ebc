"""Endpoints in the metadata database, on SQLite and PostgreSQL, and their command line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sklearn.dummy import DummyClassifier

from resources.cli_session import CliSession
from usina.errors import Conflict, InvalidInput, InvalidUri, NotFound
from usina.serving import SqlEndpointStore, parse_split


@pytest.fixture
def store(client):  # type: ignore[no-untyped-def]
    for constant in (1, 2, 3):
        client.register_model(
            DummyClassifier(strategy="constant", constant=constant).fit([[0], [1]], [constant, 9]),
            "credit-risk",
        )
    client.set_alias("credit-risk", "champion", 1)
    return SqlEndpointStore(client.db, "tester", artifacts=client.artifacts)


def test_create_follow_split_shadow_delete(store: SqlEndpointStore, client) -> None:  # type: ignore[no-untyped-def]
    e = store.create("credit", "models:/credit-risk@champion")
    assert (e.model, e.alias, e.deployments, e.generation) == ("credit-risk", "champion", (), 1)
    assert e.target == "models:/credit-risk@champion" and e.created_by == "tester"
    assert store.watch()[0].alias_version == 1
    client.set_alias("credit-risk", "champion", 2)
    row = store.watch()[0]
    assert (row.generation, row.alias_version) == (1, 2)  # an alias move shows without a bump

    e = store.split("credit", {1: 90, 2: 10})
    assert e.alias is None and [(d.version, d.traffic) for d in e.deployments] == [(1, 90), (2, 10)]
    assert e.generation == 2 and e.target == "v1=90% v2=10%"
    e = store.set_shadow("credit", 3)
    assert e.shadow_version == 3 and e.generation == 3
    e = store.follow("credit", "champion")
    assert e.alias == "champion" and e.deployments == () and e.shadow_version == 3
    e = store.configure("credit", sample_rate=0.25, max_batch_size=8, max_latency_ms=2)
    assert (e.sample_rate, e.max_batch_size, e.max_latency_ms) == (0.25, 8, 2)
    pinned = store.create("pinned", "models:/credit-risk/3")
    assert [(d.version, d.traffic) for d in pinned.deployments] == [(3, 100)]
    latest = store.create("latest", "models:/credit-risk")
    assert [(d.version, d.traffic) for d in latest.deployments] == [(3, 100)]
    assert [x.name for x in store.list()] == ["credit", "latest", "pinned"]
    store.delete("credit")
    with pytest.raises(NotFound, match="no endpoint 'credit'"):
        store.get("credit")


def test_invalid_changes_name_what_is_wrong(store: SqlEndpointStore) -> None:
    store.create("credit", "models:/credit-risk@champion")
    with pytest.raises(Conflict, match="already exists"):
        store.create("credit", "models:/credit-risk@champion")
    with pytest.raises(InvalidInput, match="endpoint name"):
        store.create("bad name", "models:/credit-risk@champion")
    with pytest.raises(InvalidUri):
        store.create("other", "credit-risk")
    with pytest.raises(NotFound, match="alias 'gold'"):
        store.create("other", "models:/credit-risk@gold")
    with pytest.raises(InvalidInput, match="summing to 100, got 95"):
        store.split("credit", {1: 90, 2: 5})
    with pytest.raises(NotFound, match="no version 7"):
        store.split("credit", {1: 90, 7: 10})
    with pytest.raises(NotFound):
        store.set_shadow("credit", 9)
    with pytest.raises(InvalidInput, match="sample rate"):
        store.configure("credit", sample_rate=1.5)
    with pytest.raises(InvalidInput, match="10"):
        store.configure("credit", max_latency_ms=50)
    with pytest.raises(NotFound):
        store.delete("nope")
    assert parse_split(["3=90", "v4=10%"]) == {3: 90, 4: 10}
    with pytest.raises(InvalidInput, match="VERSION=PERCENT"):
        parse_split(["3:90"])


def test_endpoints_command_line(
    sqlite_url: str, client_factory, tmp_path: Path, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    client = client_factory(sqlite_url)
    for constant in (1, 2):
        client.register_model(
            DummyClassifier(strategy="constant", constant=constant).fit([[0], [1]], [constant, 9]),
            "m",
        )
    client.set_alias("m", "champion", 1)
    env = {**os.environ, "USINA_DB_URL": sqlite_url, "USINA_ARTIFACTS": str(tmp_path / "artifacts")}
    # The commands run in turn in one process, the usina entry point called per command.
    session = CliSession(env, tmp_path)
    request.addfinalizer(session.close)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return session.run("endpoints", *args)

    assert (
        run("create", "credit", "--model", "models:/m@champion").stdout.strip()
        == "credit → models:/m@champion"
    )
    assert run("split", "credit", "1=90", "2=10").stdout.strip() == "credit → v1=90% v2=10%"
    assert "shadow v2" in run("shadow", "credit", "2").stdout
    assert run("follow", "credit", "champion").returncode == 0
    assert "shadow" not in run("shadow", "credit", "--off").stdout
    assert "credit" in run("list").stdout
    assert '"alias": "champion"' in run("show", "credit", "--json").stdout
    failed = run("split", "credit", "1=50")
    assert failed.returncode == 2 and "summing to 100" in failed.stderr
    assert run("delete", "credit").returncode == 0
    assert "No endpoints yet" in run("list").stdout
