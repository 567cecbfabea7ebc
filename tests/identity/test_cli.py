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

from resources.cli_session import CliSession

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


def session(env: dict[str, str], cwd: Path) -> CliSession:
    """Commands in one process of their own (``resources/cli_session.py``), with the
    environment ``usina`` gives a command: the test's own USINA_* settings left out."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    return CliSession({**base, "COLUMNS": "200", **env}, cwd)


@on_sqlite
def test_admin_login_and_tokens(live_server, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The commands on the database run in turn in one process, those through the server in
    # another: each would otherwise pay a Python start and the CLI's imports.
    db = {"USINA_DB_URL": db_url, "USINA_ARTIFACTS": str(tmp_path / "a")}
    config = tmp_path / "config"
    remote = {"USINA_URL": live_server.url, "USINA_CONFIG_DIR": str(config)}
    with session(db, tmp_path) as on_db, session(remote, tmp_path) as through:
        fails(on_db.run("admin", "create", "root", "--json", stdin="short\n"), "password", "12")
        made = ok(on_db.run("admin", "create", "root", "--json", stdin=PASSWORD + "\n"))
        assert made["user"] == "user:root" and made["binding"]["role"] == "admin"  # type: ignore[index]
        fails(on_db.run("admin", "create", "root", stdin=PASSWORD + "\n"), "already exists")

        fails(through.run("admin", "create", "y", stdin=PASSWORD + "\n"), "database itself")
        fails(through.run("users", "list"), "valid token")
        fails(through.run("auth", "login", "--user", "root", stdin="wrong password!\n"), "wrong")
        ok(through.run("auth", "login", "--user", "root", "--json", stdin=PASSWORD + "\n"))
        saved = config / "tokens.json"
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert stat.S_IMODE(config.stat().st_mode) == 0o700

        me = ok(through.run("auth", "whoami", "--json"))
        assert me["principal"] == "user:root"  # type: ignore[index]
        ok(through.run("users", "create", "bob", "--json", stdin=PASSWORD + "\n"))
        ok(through.run("service-accounts", "create", "scorer", "--json"))
        group = ok(through.run("groups", "create", "ds", "--member", "user:bob", "--json"))
        assert group["members"] == ["user:bob"]  # type: ignore[index]
        binding = ok(
            through.run("bindings", "create", "group:ds", "viewer", "-r", "models/credit", "--json")
        )
        assert binding["resource"] == "models/credit"  # type: ignore[index]
        fails(through.run("bindings", "create", "ds", "viewer"), "KIND:NAME")

        issued = ok(
            through.run(
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
        fails(through.run("tokens", "create", "--expires", "7x"), "--expires")
        fails(through.run("tokens", "create", "--expires", "91d"), "expires_in", "90 days")
        fails(through.run("tokens", "create", "--expires", "1d", "--scope", "usina.x"), "scope")
        listed = ok(through.run("tokens", "list", "--for", "service-account:scorer", "--json"))
        assert [t["id"] for t in listed] == [token_id]  # type: ignore[union-attr,index]
        assert secret not in json.dumps(listed)

        # USINA_TOKEN wins over the saved login: the scorer's token may not list users.
        as_scorer = {**remote, "USINA_TOKEN": secret}
        fails(usina(as_scorer, "users", "list"), "usina.identity.read")
        revoked = ok(through.run("tokens", "revoke", token_id, "--json"))
        assert revoked["revoked_at"] is not None  # type: ignore[index]

        roles = ok(through.run("roles", "list", "--json"))
        assert [r["name"] for r in roles][:2] == ["viewer", "data-scientist"]  # type: ignore[union-attr,index]
        ok(through.run("auth", "logout", "--json"))
        fails(through.run("auth", "whoami"), "valid token")


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
