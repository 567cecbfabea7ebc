"""Reversal of encrypted values from the command line and through ``usina server``: refused
and audited without ``usina.pii.reidentify``, answered and audited with it."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

from resources.servers import ThreadServer
from usina.client import Client
from usina.errors import PermissionDenied
from usina.pii import Encrypt, load_key
from usina.server import ServerConfig, create_app

SECRET = base64.b64encode(b"r" * 32).decode()
VALUES = ["111.444.777-35", "12.ABC.345/01DE-35"]


def _sealed() -> list[str]:
    return Encrypt(load_key(SECRET)).apply(pa.array(VALUES, pa.large_string())).to_pylist()


def _people(db_url: str, artifacts: str) -> Client:
    client = Client(db_url, artifacts)
    client.identity.create_principal("user", "ana", password="correct horse battery")
    client.identity.bind("user:ana", "admin")
    client.identity.create_principal("service-account", "bia")
    client.identity.bind("service-account:bia", "ml-engineer")
    return client


def test_the_command_line_refuses_without_the_permission_and_audits_both(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from usina.cli.main import app

    db_url = f"sqlite:///{tmp_path / 'usina.db'}"
    client = _people(db_url, str(tmp_path / "a"))
    admin = client.identity.issue_token("user:ana", 3600).secret
    base = {k: None for k in os.environ if k.startswith("USINA_")}
    base |= {"USINA_DB_URL": db_url, "USINA_ARTIFACTS": str(tmp_path / "a")}
    base |= {"USINA_PII_KEY": SECRET}

    def usina(**env: str | None) -> Any:
        # In this process (the command's code, without a Python start per call).
        return CliRunner().invoke(app, ["pii", "reidentify", *_sealed(), "--json"], env=base | env)

    refused = usina(USINA_ACTOR="service-account:bia")
    assert isinstance(refused.exception, PermissionDenied)
    assert "lacks usina.pii.reidentify" in str(refused.exception)
    assert not any(v in refused.output for v in VALUES)
    allowed = usina(USINA_ACTOR="ana")
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.output) == VALUES
    # Through a server, with a token: the server's key and the token's grants.
    config = ServerConfig(db_url=db_url, artifacts=str(tmp_path / "a"), auth=True, pii_key=SECRET)
    with ThreadServer(create_app(config)) as url:
        remote = usina(USINA_URL=url, USINA_TOKEN=admin, USINA_PII_KEY=None)
    assert remote.exit_code == 0, remote.output
    assert json.loads(remote.output) == VALUES
    records = client.audit.list(action="usina.pii.reidentify")
    assert [(r.actor, r.decision.value) for r in records] == [
        ("user:ana", "allow"),
        ("user:ana", "allow"),
        ("service-account:bia", "deny"),
    ]
    client.close()


def test_the_server_route_answers_only_a_caller_holding_the_permission(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'usina.db'}"
    client = _people(db_url, str(tmp_path / "a"))
    admin = client.identity.issue_token("user:ana", 3600).secret
    engineer = client.identity.issue_token("service-account:bia", 3600).secret
    config = ServerConfig(db_url=db_url, artifacts=str(tmp_path / "a"), auth=True, pii_key=SECRET)
    route = "/api/v1/pii:reidentify"
    with ThreadServer(create_app(config)) as url, httpx.Client(base_url=url) as http:
        body = {"values": _sealed()}
        denied = http.post(route, json=body, headers={"Authorization": f"Bearer {engineer}"})
        assert denied.status_code == 403
        answer = http.post(route, json=body, headers={"Authorization": f"Bearer {admin}"})
        assert answer.status_code == 200 and answer.json() == {"values": VALUES}
        bad = http.post(
            route, json={"values": ["enc:x"]}, headers={"Authorization": f"Bearer {admin}"}
        )
        assert bad.status_code == 400 and "not with this key" in bad.text
    decisions = [
        (r.actor, r.decision.value) for r in client.audit.list(action="usina.pii.reidentify")
    ]
    assert ("user:ana", "allow") in decisions and ("service-account:bia", "deny") in decisions
    client.close()
