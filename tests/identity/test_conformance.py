"""One identity suite, two clients: the SQL store directly and the HTTP store through a server
(with an admin token), each on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from usina.testing import check_identity_store


@pytest.fixture(params=["direct", "http"])
def make_client(request: pytest.FixtureRequest, db_url: str, client_factory):  # type: ignore[no-untyped-def]
    if request.param == "direct":
        return lambda: client_factory(db_url)
    return request.getfixturevalue("admin_client")


def test_identity_store_conformance(make_client) -> None:  # type: ignore[no-untyped-def]
    check_identity_store(make_client)
