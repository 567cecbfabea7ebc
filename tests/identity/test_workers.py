"""A revoked token is refused by every worker of ``usina server --workers 2`` within a second."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from usina.identity import SqlIdentityStore
from usina.store import Database

ROUNDS = 30  # consecutive refusals on fresh connections: both workers answered some


def whoami(url: str, secret: str) -> int:
    """One request on a fresh connection (so both workers answer some)."""
    with httpx.Client(base_url=url, timeout=10) as http:
        answer = http.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {secret}"})
        return answer.status_code


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_revoke_reaches_every_worker_within_a_second(
    db_url: str,
    start_server,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    db = Database(db_url)
    store = SqlIdentityStore(db)
    store.create_principal("service-account", "scorer")
    store.bind("service-account:scorer", "inference")
    issued = store.issue_token("service-account:scorer", 3600)
    env = {"USINA_DB_URL": db_url, "USINA_ARTIFACTS": str(tmp_path / "artifacts")}
    server = start_server("--workers", "2", "--no-scheduler", env=env)
    try:
        assert {whoami(server.url, issued.secret) for _ in range(ROUNDS)} == {200}
        store.revoke_token(issued.token.id)
        revoked_at = time.monotonic()
        last_accepted = revoked_at
        refused_in_a_row = 0
        deadline = revoked_at + 10
        while refused_in_a_row < ROUNDS and time.monotonic() < deadline:
            sent = time.monotonic()
            status = whoami(server.url, issued.secret)
            assert status in (200, 401)
            if status == 200:
                last_accepted, refused_in_a_row = sent, 0
            else:
                refused_in_a_row += 1
        assert refused_in_a_row == ROUNDS, "every worker refuses the revoked token"
        assert last_accepted - revoked_at < 1.0, "no worker accepted it a second after the revoke"
    finally:
        db.dispose()
