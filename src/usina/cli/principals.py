"""``usina users``, ``usina groups`` and ``usina service-accounts``: who can act."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from usina.cli.context import client
from usina.cli.output import console, print_json, when
from usina.cli.secrets_input import read_secret

if TYPE_CHECKING:
    from usina.identity import IdentityStore, Principal

users = typer.Typer(help="Users: people who log in with a password.", no_args_is_help=True)
groups = typer.Typer(help="Groups of users and service accounts.", no_args_is_help=True)
service_accounts = typer.Typer(
    help="Service accounts: for jobs and services; tokens only, no password.",
    no_args_is_help=True,
)

JSON = typer.Option(False, "--json", help="Print JSON.")
DESCRIPTION = typer.Option("", "--description", help="What it is for.")


def identity() -> IdentityStore:
    """The identity store: on the database, or through the server USINA_URL (--url) names."""
    return client().identity


def _print(p: Principal, json: bool) -> None:
    if json:
        print_json({**p.__dict__, "ref": p.ref})
        return
    members = f"; members: {', '.join(p.members) or 'none'}" if p.kind == "group" else ""
    console.print(f"{p.ref}{members}")


def _list(kind: str, json: bool) -> None:
    from rich.table import Table

    found = identity().list_principals(kind)
    if json:
        print_json([{**p.__dict__, "ref": p.ref} for p in found])
        return
    if not found:
        console.print(f"No {kind}s. Create one with 'usina {kind}s create NAME'.")
        return
    table = Table("name", "description", "members" if kind == "group" else "password", "created")
    for p in found:
        third = ", ".join(p.members) if kind == "group" else ("yes" if p.has_password else "no")
        table.add_row(p.name, p.description, third, f"{when(p.created_at)} by {p.created_by}")
    console.print(table)


def _deleted(ref: str, json: bool) -> None:
    identity().delete_principal(ref)
    if json:
        print_json({"deleted": ref})
        return
    console.print(f"{ref} deleted, with its bindings and tokens")


# -- users ------------------------------------------------------------------------------------


@users.command("create")
def create_user(
    name: str = typer.Argument(..., help="The user's name."),
    no_password: bool = typer.Option(
        False, "--no-password", help="Create without a password (they cannot log in yet)."
    ),
    description: str = DESCRIPTION,
    json: bool = JSON,
) -> None:
    """Add a user; the password (12+ characters) is asked for, or read from stdin."""
    password = None if no_password else read_secret("Password", confirm=True)
    _print(
        identity().create_principal("user", name, password=password, description=description), json
    )


@users.command("list")
def list_users(json: bool = JSON) -> None:
    """List users."""
    _list("user", json)


@users.command("show")
def show_user(name: str = typer.Argument(..., help="The user's name."), json: bool = JSON) -> None:
    """Show one user."""
    _print(identity().get_principal(f"user:{name}"), json)


@users.command("password")
def set_password(
    name: str = typer.Argument(..., help="The user's name."), json: bool = JSON
) -> None:
    """Set a user's password (asked for, or read from stdin): one's own, or anyone's as an
    admin."""
    identity().set_password(name, read_secret("New password", confirm=True))
    if json:
        print_json({"user": name, "password": "changed"})
        return
    console.print(f"password of user:{name} changed")


@users.command("delete")
def delete_user(
    name: str = typer.Argument(..., help="The user's name."), json: bool = JSON
) -> None:
    """Delete a user with their bindings and tokens."""
    _deleted(f"user:{name}", json)


# -- service accounts -------------------------------------------------------------------------


@service_accounts.command("create")
def create_service_account(
    name: str = typer.Argument(..., help="The service account's name."),
    description: str = DESCRIPTION,
    json: bool = JSON,
) -> None:
    """Add a service account; give it a role ('usina bindings create') and a token ('usina
    tokens create --for service-account:NAME')."""
    _print(identity().create_principal("service-account", name, description=description), json)


@service_accounts.command("list")
def list_service_accounts(json: bool = JSON) -> None:
    """List service accounts."""
    _list("service-account", json)


@service_accounts.command("show")
def show_service_account(
    name: str = typer.Argument(..., help="The service account's name."), json: bool = JSON
) -> None:
    """Show one service account."""
    _print(identity().get_principal(f"service-account:{name}"), json)


@service_accounts.command("delete")
def delete_service_account(
    name: str = typer.Argument(..., help="The service account's name."), json: bool = JSON
) -> None:
    """Delete a service account with its bindings and tokens."""
    _deleted(f"service-account:{name}", json)


# -- groups -----------------------------------------------------------------------------------

MEMBER = typer.Option(
    [], "--member", "-m", help="A member, as user:NAME or service-account:NAME (repeatable)."
)


@groups.command("create")
def create_group(
    name: str = typer.Argument(..., help="The group's name."),
    member: list[str] = MEMBER,
    description: str = DESCRIPTION,
    json: bool = JSON,
) -> None:
    """Add a group; a role bound to it applies to every member."""
    _print(
        identity().create_principal("group", name, description=description, members=member), json
    )


@groups.command("list")
def list_groups(json: bool = JSON) -> None:
    """List groups and their members."""
    _list("group", json)


@groups.command("show")
def show_group(
    name: str = typer.Argument(..., help="The group's name."), json: bool = JSON
) -> None:
    """Show one group and its members."""
    _print(identity().get_principal(f"group:{name}"), json)


@groups.command("add")
def add_members(
    name: str = typer.Argument(..., help="The group's name."),
    members: list[str] = typer.Argument(..., help="Members, as user:NAME or service-account:NAME."),
    json: bool = JSON,
) -> None:
    """Add members to a group."""
    _print(identity().set_members(name, add=members), json)


@groups.command("remove")
def remove_members(
    name: str = typer.Argument(..., help="The group's name."),
    members: list[str] = typer.Argument(..., help="Members, as user:NAME or service-account:NAME."),
    json: bool = JSON,
) -> None:
    """Remove members from a group."""
    _print(identity().set_members(name, remove=members), json)


@groups.command("delete")
def delete_group(
    name: str = typer.Argument(..., help="The group's name."), json: bool = JSON
) -> None:
    """Delete a group and its bindings (its members stay)."""
    _deleted(f"group:{name}", json)
