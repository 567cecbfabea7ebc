"""The audit log through a server: read-only routes, bad filters as 400s, and the ``usina
audit`` commands through ``USINA_URL`` (checkpoints signed and checked on the caller's side)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from usina.audit import AuditEvent, SqlAuditStore
from usina.server import ServerConfig, create_app
from usina.store import Database
from usina.store import schema as t

KEY = "a-test-key-of-32-characters-long"


@pytest.fixture
def seeded(db_url: str) -> Iterator[Database]:
    """Ten records in the server's database: the server itself is what writes them."""
    db = Database(db_url)
    SqlAuditStore(db).append(
        AuditEvent(f"user-{i % 2}", "usina.models.deploy", f"models/m{i}", "allow", 200)
        for i in range(10)
    )
    yield db
    db.dispose()


@pytest.fixture
def api(live_server, seeded: Database) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=live_server.url) as http:
        yield http


def error(response: httpx.Response, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["field"] == field, body
    return str(body["message"])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bad_filters_are_400s_naming_the_field(api: httpx.Client) -> None:
    assert "not 'allow' or 'deny'" in error(
        api.get("/api/v1/audit?decision=maybe"), 400, "decision"
    )
    assert "not a time" in error(api.get("/api/v1/audit?since=yesterday"), 400, "since")
    assert "not an action" in error(api.get("/api/v1/audit?action=Deploy"), 400, "action")
    error(api.get("/api/v1/audit?since=2h&until=3h"), 400, "until")
    error(api.get("/api/v1/audit/verify?checkpoint_seq=3"), 400, "checkpoint_hash")
    error(
        api.get("/api/v1/audit/verify?checkpoint_seq=3&checkpoint_hash=xyz"), 422, "checkpoint_hash"
    )
    page = api.get("/api/v1/audit", params={"actor": "user-1", "limit": 3}).json()
    assert [r["resource"] for r in page["items"]] == ["models/m9", "models/m7", "models/m5"]
    assert page["next_offset"] == 3


def test_no_route_appends_to_the_audit_log(db_url: str, tmp_path: Path) -> None:
    app = create_app(ServerConfig(db_url=db_url, artifacts=str(tmp_path / "a"), serving=None))
    paths = app.openapi()["paths"]
    methods = {
        (path, method.upper())
        for path, operations in paths.items()
        if path.startswith("/api/v1/audit")
        for method in operations
    }
    assert methods == {("/api/v1/audit", "GET"), ("/api/v1/audit/verify", "GET")}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_posting_a_record_is_refused(api: httpx.Client) -> None:
    record = {"actor": "mallory", "action": "auth.login", "resource": "", "decision": "allow"}
    assert api.post("/api/v1/audit", json=record).status_code == 405
    assert len(api.get("/api/v1/audit").json()["items"]) == 10


def _usina(url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    env |= {"USINA_HOME": str(home), "USINA_URL": url, "USINA_AUDIT_KEY": KEY}
    return subprocess.run(
        [sys.executable, "-m", "usina", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_the_commands_work_through_the_server(
    live_server, seeded: Database, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    listed = _usina(live_server.url, tmp_path, "audit", "list", "--actor", "user-0", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["seq"] for r in json.loads(listed.stdout)] == [9, 7, 5, 3, 1]
    checkpoint = tmp_path / "cp.json"
    made = _usina(live_server.url, tmp_path, "audit", "checkpoint", "--out", str(checkpoint))
    assert made.returncode == 0 and "checkpoint of record 10" in made.stdout, made.stderr
    ok = _usina(live_server.url, tmp_path, "audit", "verify", "--checkpoint", str(checkpoint))
    assert ok.returncode == 0 and "matches the checkpoint at record 10" in ok.stdout, ok.stderr

    with seeded.engine.begin() as conn:
        conn.execute(t.audit_records.delete().where(t.audit_records.c.seq > 8))
        conn.execute(t.audit_head.update().values(seq=8))
    cut = _usina(live_server.url, tmp_path, "audit", "verify", "--checkpoint", str(checkpoint))
    assert cut.returncode == 1, cut.stdout + cut.stderr
    assert "the checkpoint covers record 10: records 9 to 10 are missing" in cut.stderr
    bad = _usina(live_server.url, tmp_path, "audit", "list", "--decision", "maybe")
    assert bad.returncode == 2 and "decision 'maybe'" in bad.stderr
