"""``usina roles``, ``usina bindings`` and ``usina tokens``: what principals may do, where,
and with which credential."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from usina.cli.context import client, remote_url
from usina.cli.output import console, errors, print_json, when
from usina.cli.secrets_input import parse_duration
from usina.errors import InvalidInput

if TYPE_CHECKING:
    from usina.identity import IdentityStore

roles = typer.Typer(help="Roles: named sets of permissions.", no_args_is_help=True)
bindings = typer.Typer(
    help="Bindings: a principal holds a role on the workspace or one resource.",
    no_args_is_help=True,
)
tokens = typer.Typer(help="Tokens: expiring, scoped credentials.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON.")


def identity() -> IdentityStore:
    """The identity store, on the database with USINA_TOKEN_MAX_DAYS as its token limit, or
    through the server USINA_URL names (whose own limit applies)."""
    store = client().identity
    from usina.identity import SqlIdentityStore

    if isinstance(store, SqlIdentityStore):
        from usina.settings import Settings

        store.token_max_days = Settings().token_max_days
    return store


# -- roles ------------------------------------------------------------------------------------


@roles.command("list")
def list_roles(json: bool = JSON) -> None:
    """List the predefined and custom roles with their permissions."""
    from rich.table import Table

    found = identity().list_roles()
    if json:
        print_json(found)
        return
    table = Table("role", "kind", "permissions", "description")
    for r in found:
        kind = "predefined" if r.predefined else "custom"
        table.add_row(r.name, kind, "\n".join(r.permissions), r.description)
    console.print(table)


@roles.command("show")
def show_role(name: str = typer.Argument(..., help="The role's name."), json: bool = JSON) -> None:
    """Show one role's permissions."""
    role = identity().get_role(name)
    if json:
        print_json(role)
        return
    console.print(f"{role.name}: {', '.join(role.permissions)}")


@roles.command("create")
def create_role(
    name: str = typer.Argument(..., help="The role's name."),
    permission: list[str] = typer.Option(
        ..., "--permission", "-p", help="A permission, as usina.models.read (repeatable)."
    ),
    description: str = typer.Option("", "--description", help="What the role is for."),
    json: bool = JSON,
) -> None:
    """Add a custom role from permissions ('usina roles permissions' lists them)."""
    role = identity().create_role(name, permission, description)
    if json:
        print_json(role)
        return
    console.print(f"role {role.name}: {', '.join(role.permissions)}")


@roles.command("delete")
def delete_role(
    name: str = typer.Argument(..., help="The role's name."), json: bool = JSON
) -> None:
    """Delete a custom role no binding uses."""
    identity().delete_role(name)
    if json:
        print_json({"deleted": name})
        return
    console.print(f"role {name} deleted")


@roles.command("permissions")
def list_permissions(json: bool = JSON) -> None:
    """List every permission with its audit class."""
    from rich.table import Table

    from usina.identity.permissions import PERMISSIONS

    if json:
        print_json(list(PERMISSIONS.values()))
        return
    table = Table("permission", "audit class", "allows")
    for p in PERMISSIONS.values():
        table.add_row(p.name, p.audit_class, p.description)
    console.print(table)


# -- bindings ---------------------------------------------------------------------------------


@bindings.command("create")
def create_binding(
    principal: str = typer.Argument(..., help="KIND:NAME, as user:ana or group:ml."),
    role: str = typer.Argument(..., help="The role to give."),
    resource: str = typer.Option(
        "*", "--resource", "-r", help="'*' (the workspace) or KIND/NAME, as models/credit."
    ),
    json: bool = JSON,
) -> None:
    """Give a principal a role, on the workspace or on one resource."""
    b = identity().bind(principal, role, resource)
    if json:
        print_json(b)
        return
    console.print(f"binding {b.id}: {b.principal} holds {b.role} on {b.resource}")


@bindings.command("list")
def list_bindings(
    principal: Optional[str] = typer.Option(None, "--principal", help="Only this principal's."),  # noqa: UP045
    resource: Optional[str] = typer.Option(None, "--resource", help="Only on this resource."),  # noqa: UP045
    role: Optional[str] = typer.Option(None, "--role", help="Only of this role."),  # noqa: UP045
    json: bool = JSON,
) -> None:
    """List bindings, oldest first."""
    from rich.table import Table

    found = identity().list_bindings(principal, resource)
    if role is not None:
        found = [b for b in found if b.role == role]
    if json:
        print_json(found)
        return
    table = Table("id", "principal", "role", "resource", "created")
    for b in found:
        table.add_row(
            str(b.id), b.principal, b.role, b.resource, f"{when(b.created_at)} by {b.created_by}"
        )
    console.print(table)


@bindings.command("delete")
def delete_binding(
    binding_id: int = typer.Argument(..., help="The binding's id ('usina bindings list')."),
    json: bool = JSON,
) -> None:
    """Remove a binding."""
    identity().unbind(binding_id)
    if json:
        print_json({"deleted": binding_id})
        return
    console.print(f"binding {binding_id} deleted")


# -- tokens -----------------------------------------------------------------------------------


def _me() -> str | None:
    """The principal the command's token speaks for, through a server; ``None`` on the
    database, where commands act with no token."""
    if not remote_url():
        return None
    whoami = getattr(client().identity, "whoami", None)
    return str(whoami()["principal"]) if whoami is not None else None


@tokens.command("create")
def create_token(
    expires: str = typer.Option(
        ..., "--expires", help="Lifetime: 30m, 12h, 7d... (at most USINA_TOKEN_MAX_DAYS)."
    ),
    scope: list[str] = typer.Option(
        [], "--scope", help="Narrow the token to this permission (repeatable)."
    ),
    for_: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--for",
        help="Whose token, as KIND:NAME (service-account:trainer); your own by default.",
    ),
    name: str = typer.Option("", "--name", help="A label, to tell tokens apart."),
    json: bool = JSON,
) -> None:
    """Issue a token; its secret is printed this once and stored nowhere."""
    lifetime = parse_duration(expires)
    principal = for_ or _me()
    if principal is None:
        raise InvalidInput(
            "on the database directly there is no 'you': say whose token with --for KIND:NAME",
            field="--for",
        )
    issued = identity().issue_token(principal, lifetime, scope, name)
    if json:
        print_json(issued)
        return
    t = issued.token
    errors.print(
        f"token {t.id} for {t.principal}, expires {when(t.expires_at)}"
        f"{'; scope: ' + ', '.join(t.scope) if t.scope else ''}. Copy it now: it is not shown "
        "again."
    )
    console.print(issued.secret, soft_wrap=True)


@tokens.command("list")
def list_tokens(
    for_: Optional[str] = typer.Option(None, "--for", help="Only this principal's, KIND:NAME."),  # noqa: UP045
    all_: bool = typer.Option(
        False, "--all", help="Every principal's (needs usina.identity.read through a server)."
    ),
    json: bool = JSON,
) -> None:
    """List tokens (never their secrets): your own through a server, every one on the
    database."""
    from rich.table import Table

    principal = None if all_ else (for_ or _me())
    found = identity().list_tokens(principal)
    if json:
        print_json(found)
        return
    table = Table("id", "principal", "name", "scope", "expires", "last used", "state")
    for t in found:
        state = "revoked" if t.revoked_at else "active"
        table.add_row(
            t.id,
            t.principal,
            t.name,
            ", ".join(t.scope) or "all",
            when(t.expires_at),
            when(t.last_used_at),
            state,
        )
    console.print(table)


@tokens.command("revoke")
def revoke_token(
    token_id: str = typer.Argument(..., help="The token's id ('usina tokens list')."),
    json: bool = JSON,
) -> None:
    """Revoke a token; every server worker refuses it within a second."""
    t = identity().revoke_token(token_id)
    if json:
        print_json(t)
        return
    console.print(f"token {t.id} of {t.principal} revoked")
