"""Secrets beyond the store's contract: every read of a value is audited (allowed and refused,
through a server; allowed, on the database directly) without the value in the record; values
never reach the database in clear; no master key is a clear error; ``secret:NAME`` settings
resolve to the value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from resources.keys import some_keys
from resources.waiting import wait_until
from usina import Client
from usina.audit import SqlAuditStore
from usina.errors import InvalidInput, KeyUnavailable, NotFound, PermissionDenied
from usina.identity import SqlIdentityStore
from usina.secrets.references import resolve_references
from usina.server import ServerConfig, create_app
from usina.settings import Settings
from usina.store import Database

VALUE = "s3cr3t-webhook-key"


def _token(identity: SqlIdentityStore, name: str, role: str) -> str:
    identity.create_principal("service-account", name)
    identity.bind(f"service-account:{name}", role)
    return identity.issue_token(f"service-account:{name}", 3600).secret


def test_every_value_read_is_audited_and_no_record_holds_the_value(
    sqlite_url: str, tmp_path: Path, serve_app: Any
) -> None:
    keys = some_keys()
    artifacts = str(tmp_path / "artifacts")
    url = serve_app(create_app(ServerConfig(sqlite_url, artifacts, auth=True, keys=keys)))
    db = Database(sqlite_url)
    db.migrate()
    identity = SqlIdentityStore(db)
    admin = Client(url, token=_token(identity, "keeper", "admin"))
    engineer = Client(url, token=_token(identity, "deployer", "ml-engineer"))

    admin.secrets.set("webhook", VALUE)
    assert admin.secrets.reveal("webhook") == VALUE
    # A role with no secret permission is not told the secret exists.
    with pytest.raises(NotFound, match="secrets/webhook was not found"):
        engineer.secrets.reveal("webhook")
    with pytest.raises(PermissionDenied):
        engineer.secrets.list()
    direct = Client(sqlite_url, artifacts, keys=keys, actor="ana")
    direct.secrets.reveal("webhook")
    direct.close()

    audit = SqlAuditStore(db)
    reads = wait_until(
        lambda: r if len(r := audit.list(action="usina.secrets.read")) == 3 else None,
        10,
        "three audit records of secret reads",
    )
    seen = {(r.actor, r.decision.value, r.resource) for r in reads}
    assert seen == {
        ("service-account:keeper", "allow", "secrets/webhook"),
        ("service-account:deployer", "deny", "secrets/webhook"),
        ("ana", "allow", "secrets/webhook"),
    }
    for record in audit.list(limit=1000):
        assert VALUE not in repr(record)
    db_bytes = Path(sqlite_url.removeprefix("sqlite:///")).read_bytes()
    assert VALUE.encode() not in db_bytes
    admin.close()
    engineer.close()
    db.dispose()


def test_without_a_master_key_setting_a_secret_names_the_setting(
    sqlite_url: str, tmp_path: Path
) -> None:
    client = Client(sqlite_url, str(tmp_path / "a"))
    with pytest.raises(KeyUnavailable, match="set USINA_MASTER_KEY"):
        client.secrets.set("smtp", "pw")
    assert client.secrets.list() == []
    # Sealed with one ring, unreadable with another: a clear error, never a wrong value.
    Client(sqlite_url, str(tmp_path / "a"), keys=some_keys()).secrets.set("smtp", "pw")
    other = Client(sqlite_url, str(tmp_path / "a"), keys=some_keys().parse("k9:" + "A" * 43 + "="))
    with pytest.raises(KeyUnavailable, match="key 'k1'"):
        other.secrets.reveal("smtp")


def test_settings_that_name_a_secret_get_its_value(sqlite_url: str, tmp_path: Path) -> None:
    client = Client(sqlite_url, str(tmp_path / "a"), keys=some_keys())
    client.secrets.set("smtp-password", "hunter2")
    settings = Settings(
        smtp_password=SecretStr("secret:smtp-password"), webhook_secret=SecretStr("plain")
    )
    resolved = resolve_references(settings, lambda: client.secrets)
    assert resolved.smtp_password is not None and resolved.webhook_secret is not None
    assert resolved.smtp_password.get_secret_value() == "hunter2"
    assert resolved.webhook_secret.get_secret_value() == "plain"
    untouched = Settings(smtp_password=SecretStr("plain"))
    assert resolve_references(untouched, lambda: pytest.fail("no store is opened")) is untouched
    missing = Settings(webhook_secret=SecretStr("secret:ghost"))
    with pytest.raises(InvalidInput, match="USINA_WEBHOOK_SECRET names secret:ghost") as e:
        resolve_references(missing, lambda: client.secrets)
    assert e.value.field == "USINA_WEBHOOK_SECRET"
    client.close()
