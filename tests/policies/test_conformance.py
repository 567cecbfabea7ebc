"""The policy and event stores' suite, on the SQL stores directly and on the HTTP stores
through a server, each on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from usina.testing import check_policy_store


@pytest.fixture(params=["direct", "http"])
def make_client(request: pytest.FixtureRequest, db_url: str, client_factory):  # type: ignore[no-untyped-def]
    if request.param == "direct":
        return lambda: client_factory(db_url)
    return request.getfixturevalue("remote_factory")


def test_policy_store_conformance(make_client) -> None:  # type: ignore[no-untyped-def]
    check_policy_store(make_client)
