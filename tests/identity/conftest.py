"""Identity tests share the server fixtures of ``tests/server`` (a live server per test,
``usina server`` subprocesses) and
add an admin token for it, made on its database as ``usina admin create`` would."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import server.conftest as server_fixtures
from usina.client import Client
from usina.identity import SqlIdentityStore
from usina.store import Database

# The live server of tests/server, made available here.
serve_app = server_fixtures.serve_app
live_server = server_fixtures.live_server
start_server = server_fixtures.start_server


@pytest.fixture
def admin_token(db_url: str) -> Iterator[str]:
    """The secret of a workspace admin's token on ``db_url`` (a service account's)."""
    db = Database(db_url)
    store = SqlIdentityStore(db)
    store.create_principal("service-account", "root")
    store.bind("service-account:root", "admin")
    yield store.issue_token("service-account:root", 3600).secret
    db.dispose()


@pytest.fixture
def admin_client(live_server, admin_token: str) -> Iterator[Callable[[], Client]]:  # type: ignore[no-untyped-def]
    """Clients of the live server holding the admin token."""
    made: list[Client] = []

    def make() -> Client:
        c = Client(live_server.url, token=admin_token)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
