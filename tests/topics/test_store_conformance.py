"""One topic store suite, two stores: the SQL store directly and the HTTP store through a
server, each on SQLite and PostgreSQL (the log is the embedded one beside them)."""

from __future__ import annotations

import pytest

import server.conftest as server_fixtures
from usina.testing import check_topic_store

serve_app = server_fixtures.serve_app
live_server = server_fixtures.live_server
remote_factory = server_fixtures.remote_factory


@pytest.fixture(params=["direct", "http"])
def make_client(request: pytest.FixtureRequest, db_url: str, client_factory):  # type: ignore[no-untyped-def]
    if request.param == "direct":
        return lambda: client_factory(db_url)
    return request.getfixturevalue("remote_factory")


def test_topic_store_conformance(make_client) -> None:  # type: ignore[no-untyped-def]
    check_topic_store(make_client)
