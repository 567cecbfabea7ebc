"""The identity commands as a user runs them: the first admin on the database, a login saved
with mode 0600 and used by later commands, tokens created, listed and revoked, USINA_TOKEN
taking precedence, and bad input answered with exit status 2 naming the field."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

PASSWORD = "a long enough passphrase"
on_sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def usina(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    return subprocess.run(
        [sys.executable, "-m", "usina", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**base, "COLUMNS": "200", **env},
        timeout=120,
    )


def ok(out: subprocess.CompletedProcess[str]) -> object:
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def fails(out: subprocess.CompletedProcess[str], *words: str) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    for word in words:
        assert word in out.stderr, out.stderr
    return out.stderr


@on_sqlite
def test_admin_login_and_tokens(live_server, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = {"USINA_DB_URL": db_url, "USINA_ARTIFACTS": str(tmp_path / "a")}
    fails(usina(db, "admin", "create", "root", "--json", stdin="short\n"), "password", "12")
    made = ok(usina(db, "admin", "create", "root", "--json", stdin=PASSWORD + "\n"))
    assert made["user"] == "user:root" and made["binding"]["role"] == "admin"  # type: ignore[index]
    fails(usina(db, "admin", "create", "root", stdin=PASSWORD + "\n"), "already exists")

    config = tmp_path / "config"
    remote = {"USINA_URL": live_server.url, "USINA_CONFIG_DIR": str(config)}
    fails(usina(remote, "admin", "create", "y", stdin=PASSWORD + "\n"), "database itself")
    fails(usina(remote, "users", "list"), "valid token")
    fails(usina(remote, "auth", "login", "--user", "root", stdin="wrong password!\n"), "wrong")
    ok(usina(remote, "auth", "login", "--user", "root", "--json", stdin=PASSWORD + "\n"))
    saved = config / "tokens.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.stat().st_mode) == 0o700

    me = ok(usina(remote, "auth", "whoami", "--json"))
    assert me["principal"] == "user:root"  # type: ignore[index]
    ok(usina(remote, "users", "create", "bob", "--json", stdin=PASSWORD + "\n"))
    ok(usina(remote, "service-accounts", "create", "scorer", "--json"))
    group = ok(usina(remote, "groups", "create", "ds", "--member", "user:bob", "--json"))
    assert group["members"] == ["user:bob"]  # type: ignore[index]
    binding = ok(
        usina(remote, "bindings", "create", "group:ds", "viewer", "-r", "models/credit", "--json")
    )
    assert binding["resource"] == "models/credit"  # type: ignore[index]
    fails(usina(remote, "bindings", "create", "ds", "viewer"), "KIND:NAME")

    issued = ok(
        usina(
            remote,
            "tokens",
            "create",
            "--for",
            "service-account:scorer",
            "--expires",
            "7d",
            "--scope",
            "usina.endpoints.predict",
            "--json",
        )
    )
    secret, token_id = issued["secret"], issued["token"]["id"]  # type: ignore[index]
    assert issued["token"]["scope"] == ["usina.endpoints.predict"]  # type: ignore[index]
    fails(usina(remote, "tokens", "create", "--expires", "7x"), "--expires")
    fails(usina(remote, "tokens", "create", "--expires", "91d"), "expires_in", "90 days")
    fails(usina(remote, "tokens", "create", "--expires", "1d", "--scope", "usina.x"), "scope")
    listed = ok(usina(remote, "tokens", "list", "--for", "service-account:scorer", "--json"))
    assert [t["id"] for t in listed] == [token_id]  # type: ignore[union-attr,index]
    assert secret not in json.dumps(listed)

    # USINA_TOKEN wins over the saved login: the scorer's token may not list users.
    as_scorer = {**remote, "USINA_TOKEN": secret}
    fails(usina(as_scorer, "users", "list"), "usina.identity.read")
    revoked = ok(usina(remote, "tokens", "revoke", token_id, "--json"))
    assert revoked["revoked_at"] is not None  # type: ignore[index]

    roles = ok(usina(remote, "roles", "list", "--json"))
    assert [r["name"] for r in roles][:2] == ["viewer", "data-scientist"]  # type: ignore[union-attr,index]
    ok(usina(remote, "auth", "logout", "--json"))
    fails(usina(remote, "auth", "whoami"), "valid token")


def test_tokens_on_the_database_need_for(tmp_path: Path) -> None:
    home = {"USINA_HOME": str(tmp_path / "home")}
    fails(usina(home, "tokens", "create", "--expires", "1d"), "--for")
    fails(usina(home, "auth", "login", "--user", "x"), "USINA_URL")
    ok(usina(home, "service-accounts", "create", "job", "--json"))
    limited = {**home, "USINA_TOKEN_MAX_DAYS": "2"}
    fails(
        usina(limited, "tokens", "create", "--for", "service-account:job", "--expires", "3d"),
        "2 days",
    )
    issued = ok(
        usina(
            limited, "tokens", "create", "--for", "service-account:job", "--expires", "1d", "--json"
        )
    )
    assert issued["secret"].startswith("usina_")  # type: ignore[index]


def test_bootstrap_makes_the_first_admin_once(tmp_path: Path, serve_app) -> None:  # type: ignore[no-untyped-def]
    from usina.server import ServerConfig, create_app

    bootstrap = "s" * 40
    config = ServerConfig(
        db_url=f"sqlite:///{tmp_path / 'usina.db'}",
        artifacts=str(tmp_path / "artifacts"),
        bootstrap_token=bootstrap,
    )
    remote = {"USINA_URL": serve_app(create_app(config)), "USINA_CONFIG_DIR": str(tmp_path / "c")}
    made = ok(
        usina(remote, "auth", "bootstrap", "ana", "--json", stdin=f"{bootstrap}\n{PASSWORD}\n")
    )
    assert made["principal"] == "user:ana"  # type: ignore[index]
    me = ok(usina(remote, "auth", "whoami", "--json"))
    assert "usina.identity.admin" in me["permissions"]  # type: ignore[index]
    fails(
        usina(remote, "auth", "bootstrap", "bo", stdin=f"{bootstrap}\n{PASSWORD}\n"),
        "already exchanged",
    )
