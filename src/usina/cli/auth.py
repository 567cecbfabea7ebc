"""``usina auth`` (log in to a server, who am I, log out, the bootstrap exchange) and
``usina admin create`` (the first admin, on the database)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from usina.cli.context import client, remote_url
from usina.cli.output import console, print_json, when
from usina.cli.secrets_input import parse_duration, read_secret
from usina.errors import InvalidInput

if TYPE_CHECKING:
    from pathlib import Path

    from usina.identity import IssuedToken
    from usina.identity.http import HttpIdentityStore

auth = typer.Typer(help="Log in to a usina server and see who you are.", no_args_is_help=True)
admin = typer.Typer(help="Administration on the database itself.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON.")


def _server() -> tuple[str, HttpIdentityStore]:
    url = remote_url()
    if not url:
        raise InvalidInput(
            "this command talks to a usina server: set USINA_URL or give --url "
            "(on one machine without a server, no login is needed)",
            field="--url",
        )
    store: HttpIdentityStore = client().identity  # type: ignore[assignment]
    return url, store


def _config_dir() -> Path:
    from usina.settings import Settings

    return Settings().resolved_config_dir()


def _save(url: str, issued: IssuedToken) -> Path:
    from usina.cli import credentials

    t = issued.token
    saved = {
        "secret": issued.secret,
        "token_id": t.id,
        "principal": t.principal,
        "expires_at": t.expires_at,
    }
    return credentials.save(_config_dir(), url, saved)


@auth.command("login")
def login(
    user: Optional[str] = typer.Option(None, "--user", "-u", help="Your user name."),  # noqa: UP045
    expires: str = typer.Option("12h", "--expires", help="How long the login lasts: 30m, 12h, 7d."),
    scope: list[str] = typer.Option([], "--scope", help="Narrow the login's token (repeatable)."),
    json: bool = JSON,
) -> None:
    """Log in to the server (USINA_URL or --url); later commands send the token, saved for
    that server in the config folder (mode 0600), unless USINA_TOKEN is set."""
    url, store = _server()
    name = user or typer.prompt("User")
    lifetime = parse_duration(expires)
    issued = store.login(name, read_secret("Password"), lifetime, scope)
    path = _save(url, issued)
    if json:
        print_json(
            {
                "principal": issued.token.principal,
                "token_id": issued.token.id,
                "expires_at": issued.token.expires_at,
                "saved_in": str(path),
            }
        )
        return
    console.print(
        f"logged in to {url} as {issued.token.principal} until {when(issued.token.expires_at)}"
    )


@auth.command("logout")
def logout(json: bool = JSON) -> None:
    """Revoke the saved login's token for the server and forget it."""
    from usina.cli import credentials
    from usina.errors import UsinaError

    url, store = _server()
    saved = credentials.entry(_config_dir(), url)
    revoked = False
    if saved and isinstance(saved.get("token_id"), str):
        try:
            store.revoke_token(saved["token_id"])
            revoked = True
        except UsinaError:
            pass  # expired or already revoked: forgetting it is what is left to do
    forgotten = credentials.forget(_config_dir(), url)
    if json:
        print_json({"server": url, "forgotten": forgotten, "revoked": revoked})
        return
    console.print(f"logged out of {url}" if forgotten else f"no saved login for {url}")


@auth.command("whoami")
def whoami(json: bool = JSON) -> None:
    """Who the token speaks for, and what it allows."""
    _url, store = _server()
    me = store.whoami()
    if json:
        print_json(me)
        return
    scope = f"; scope: {', '.join(me['scope'])}" if me["scope"] else ""
    console.print(
        f"{me['principal']} (token {me['token_id']}, expires {when(me['expires_at'])}{scope})"
    )
    for grant in me["grants"]:
        console.print(f"  on {grant['scope']}: {', '.join(grant['permissions'])}")


@auth.command("bootstrap")
def bootstrap(
    user: str = typer.Argument(..., help="The first admin's user name."),
    json: bool = JSON,
) -> None:
    """Exchange the server's one-time bootstrap token (USINA_BOOTSTRAP_TOKEN, asked for or
    read from stdin, then the new password) for the first admin, and log in as them."""
    url, store = _server()
    secret = read_secret("Bootstrap token", field="bootstrap_token")
    issued = store.bootstrap_admin(secret, user, read_secret("New password", confirm=True))
    path = _save(url, issued)
    if json:
        print_json(
            {
                "principal": issued.token.principal,
                "token_id": issued.token.id,
                "expires_at": issued.token.expires_at,
                "saved_in": str(path),
            }
        )
        return
    console.print(f"{issued.token.principal} is an admin of {url}, and logged in")


@admin.command("create")
def create_admin(
    user: str = typer.Argument(..., help="The admin's user name."),
    json: bool = JSON,
) -> None:
    """Create a user holding the admin role on the whole workspace, on the database itself
    (USINA_DB_URL, or the home's SQLite); the password is asked for, or read from stdin."""
    if remote_url():
        raise InvalidInput(
            "'usina admin create' works on the database itself, not through a server; "
            "unset USINA_URL (and --url) and set USINA_DB_URL to the server's database",
            field="--url",
        )
    password = read_secret("Password", confirm=True)
    store = client().identity
    created = store.create_principal(
        "user", user, password=password, description="admin, from 'usina admin create'"
    )
    binding = store.bind(created.ref, "admin")
    if json:
        print_json({"user": created.ref, "binding": binding})
        return
    console.print(f"{created.ref} created with the admin role on the workspace")
