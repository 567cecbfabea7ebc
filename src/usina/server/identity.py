"""Routes for identity and access: ``/api/v1/users``, ``/groups``, ``/service-accounts``,
``/roles``, ``/bindings``, ``/tokens`` and ``/auth/{login,bootstrap,whoami}``.

Every route here checks its caller through ``authorize`` (its permission is in
``usina.identity.permissions``); logging in and exchanging the bootstrap token are public and
check a password or the bootstrap token themselves.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from usina.audit.trail import RESOURCE_NOTE
from usina.errors import PermissionDenied, Unauthenticated
from usina.identity import GROUP, SERVICE_ACCOUNT, USER, Caller, SqlIdentityStore
from usina.identity.credentials import secret_hash
from usina.server import identity_schemas as i
from usina.server import schemas as s
from usina.server.auth import authorize, require_admin_unless_own
from usina.server.deps import MAX_PAGE, backends, next_offset

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": s.ErrorBody, "description": "No valid token (or a wrong password)."},
    403: {"model": s.ErrorBody, "description": "The caller's roles do not allow it."},
}
router = APIRouter(prefix="/api/v1", tags=["identity"], responses=_ERRORS)
Authorized = Annotated[Caller | None, Depends(authorize)]
LIMIT = Query(100, ge=1, le=MAX_PAGE)
OFFSET = Query(0, ge=0, le=2**62)


def _who(caller: Caller | None) -> Caller:
    assert caller is not None, "only public routes have no caller"
    return caller


def identity(request: Request, who: str) -> SqlIdentityStore:
    """The identity store acting as ``who``, bound by the server's token lifetime limit."""
    return SqlIdentityStore(
        backends(request).db, who, token_max_days=request.app.state.token_max_days
    )


def _page(items: list[Any], limit: int, offset: int) -> s.Page[Any]:
    found = items[offset : offset + limit]
    return s.Page(items=found, next_offset=next_offset(len(found), limit, offset))


# -- principals -------------------------------------------------------------------------------


@router.post("/users", status_code=201, response_model=i.PrincipalOut)
def create_user(request: Request, body: i.UserIn, caller: Authorized) -> i.PrincipalOut:
    """Add a user (a password of 12+ characters lets them log in; 409 if the name is taken)."""
    store = identity(request, _who(caller).name)
    return i.principal_out(
        store.create_principal(
            USER, body.name, password=body.password, description=body.description
        )
    )


@router.post("/service-accounts", status_code=201, response_model=i.PrincipalOut)
def create_service_account(
    request: Request, body: i.ServiceAccountIn, caller: Authorized
) -> i.PrincipalOut:
    """Add a service account: no password, it authenticates with tokens only."""
    store = identity(request, _who(caller).name)
    return i.principal_out(
        store.create_principal(SERVICE_ACCOUNT, body.name, description=body.description)
    )


@router.post("/groups", status_code=201, response_model=i.PrincipalOut)
def create_group(request: Request, body: i.GroupIn, caller: Authorized) -> i.PrincipalOut:
    """Add a group of users and service accounts."""
    store = identity(request, _who(caller).name)
    return i.principal_out(
        store.create_principal(GROUP, body.name, description=body.description, members=body.members)
    )


def _list(kind: str):  # type: ignore[no-untyped-def]
    def list_principals(
        request: Request, caller: Authorized, limit: int = LIMIT, offset: int = OFFSET
    ) -> s.Page[i.PrincipalOut]:
        found = identity(request, _who(caller).name).list_principals(kind)
        return _page([i.principal_out(p) for p in found], limit, offset)

    list_principals.__doc__ = f"Every {kind}, by name."
    return list_principals


def _get(kind: str):  # type: ignore[no-untyped-def]
    def get_principal(request: Request, name: str, caller: Authorized) -> i.PrincipalOut:
        found = identity(request, _who(caller).name).get_principal(f"{kind}:{name}")
        return i.principal_out(found)

    get_principal.__doc__ = f"One {kind}."
    return get_principal


def _delete(kind: str):  # type: ignore[no-untyped-def]
    def delete_principal(request: Request, name: str, caller: Authorized) -> Response:
        identity(request, _who(caller).name).delete_principal(f"{kind}:{name}")
        return Response(status_code=204)

    delete_principal.__doc__ = f"Delete a {kind} with its bindings, memberships and tokens."
    return delete_principal


for _kind, _path in ((USER, "/users"), (GROUP, "/groups"), (SERVICE_ACCOUNT, "/service-accounts")):
    _op = _kind.replace("-", "_")
    router.add_api_route(
        _path,
        _list(_kind),
        methods=["GET"],
        response_model=s.Page[i.PrincipalOut],
        operation_id=f"list_{_op}s",
    )
    router.add_api_route(
        f"{_path}/{{name}}",
        _get(_kind),
        methods=["GET"],
        response_model=i.PrincipalOut,
        operation_id=f"get_{_op}",
    )
    router.add_api_route(
        f"{_path}/{{name}}",
        _delete(_kind),
        methods=["DELETE"],
        status_code=204,
        operation_id=f"delete_{_op}",
    )


@router.post("/groups/{name}/members", response_model=i.PrincipalOut)
def set_members(
    request: Request, name: str, body: i.MembersIn, caller: Authorized
) -> i.PrincipalOut:
    """Add and remove members of a group."""
    store = identity(request, _who(caller).name)
    return i.principal_out(store.set_members(name, body.add, body.remove))


@router.put("/users/{name}/password", status_code=204)
def set_password(request: Request, name: str, body: i.PasswordIn, caller: Authorized) -> Response:
    """Replace a user's password: one's own, or anyone's with usina.identity.admin."""
    who = _who(caller)
    require_admin_unless_own(who, f"{USER}:{name}", "usina.identity.admin")
    if who.scope is not None and not who.allows("usina.identity.admin"):
        # A new password gives a full login: a token narrowed to less must not lead to one.
        raise PermissionDenied(
            "a scoped token cannot change a password; log in without --scope to change it"
        )
    identity(request, who.name).set_password(name, body.password)
    return Response(status_code=204)


# -- roles and bindings -----------------------------------------------------------------------


@router.get("/roles", response_model=s.Page[i.RoleOut])
def list_roles(
    request: Request, caller: Authorized, limit: int = LIMIT, offset: int = OFFSET
) -> s.Page[i.RoleOut]:
    """The predefined roles, then the custom ones by name."""
    found = identity(request, _who(caller).name).list_roles()
    return _page([i.role_out(r) for r in found], limit, offset)


@router.get("/roles/{name}", response_model=i.RoleOut)
def get_role(request: Request, name: str, caller: Authorized) -> i.RoleOut:
    """One role and its permissions."""
    return i.role_out(identity(request, _who(caller).name).get_role(name))


@router.post("/roles", status_code=201, response_model=i.RoleOut)
def create_role(request: Request, body: i.RoleIn, caller: Authorized) -> i.RoleOut:
    """Add a custom role from permission names."""
    store = identity(request, _who(caller).name)
    return i.role_out(store.create_role(body.name, body.permissions, body.description))


@router.delete("/roles/{name}", status_code=204)
def delete_role(request: Request, name: str, caller: Authorized) -> Response:
    """Delete a custom role that no binding uses."""
    identity(request, _who(caller).name).delete_role(name)
    return Response(status_code=204)


@router.get("/bindings", response_model=s.Page[i.BindingOut])
def list_bindings(
    request: Request,
    caller: Authorized,
    principal: str | None = Query(None, max_length=256, description="Only this principal's."),
    resource: str | None = Query(None, max_length=512, description="Only on this resource."),
    limit: int = LIMIT,
    offset: int = OFFSET,
) -> s.Page[i.BindingOut]:
    """Role bindings, oldest first."""
    found = identity(request, _who(caller).name).list_bindings(principal, resource)
    return _page([i.binding_out(b) for b in found], limit, offset)


@router.post("/bindings", status_code=201, response_model=i.BindingOut)
def bind(request: Request, body: i.BindingIn, caller: Authorized) -> i.BindingOut:
    """Give a principal a role on the workspace ('*') or on one resource."""
    store = identity(request, _who(caller).name)
    return i.binding_out(store.bind(body.principal, body.role, body.resource))


@router.delete("/bindings/{binding_id}", status_code=204)
def unbind(request: Request, binding_id: int, caller: Authorized) -> Response:
    """Remove a binding."""
    identity(request, _who(caller).name).unbind(binding_id)
    return Response(status_code=204)


# -- tokens -----------------------------------------------------------------------------------


@router.post("/tokens", status_code=201, response_model=i.IssuedOut)
def issue_token(request: Request, body: i.TokenIn, caller: Authorized) -> i.IssuedOut:
    """Issue a token: one's own, or another principal's with usina.identity.admin. A token
    made with a scoped token stays within that scope."""
    who = _who(caller)
    principal = body.principal or who.principal
    require_admin_unless_own(who, principal, "usina.identity.admin")
    scope = list(body.scope)
    if who.scope is not None:
        if not scope:
            scope = sorted(who.scope)
        elif not set(scope) <= who.scope:
            raise PermissionDenied(
                "a scoped token can only issue tokens within its own scope: "
                f"{', '.join(sorted(set(scope) - who.scope))} is outside it"
            )
    store = identity(request, who.name)
    return i.issued_out(store.issue_token(principal, body.expires_in, scope, body.name))


@router.get("/tokens", response_model=s.Page[i.TokenOut])
def list_tokens(
    request: Request,
    caller: Authorized,
    principal: str | None = Query(
        None, max_length=256, description="Only this principal's; every token if absent."
    ),
    limit: int = LIMIT,
    offset: int = OFFSET,
) -> s.Page[i.TokenOut]:
    """Tokens, never their secrets: one's own, or others' with usina.identity.read."""
    who = _who(caller)
    if principal != who.principal and not who.allows("usina.identity.read"):
        raise PermissionDenied(
            f"{who.principal} may list only its own tokens (?principal={who.principal}); "
            "others' need usina.identity.read"
        )
    found = identity(request, who.name).list_tokens(principal)
    return _page([i.token_out(t) for t in found], limit, offset)


@router.post("/tokens/{token_id}/revoke", response_model=i.TokenOut)
def revoke_token(request: Request, token_id: str, caller: Authorized) -> i.TokenOut:
    """Revoke a token (one's own, or any with usina.identity.admin); every worker refuses it
    within a second."""
    who = _who(caller)
    store = identity(request, who.name)
    require_admin_unless_own(who, store.get_token(token_id).principal, "usina.identity.admin")
    return i.token_out(store.revoke_token(token_id))


# -- authentication ---------------------------------------------------------------------------


@router.post("/auth/login", response_model=i.IssuedOut, responses={429: _ERRORS[401]})
def login(request: Request, body: i.LoginIn, _public: Authorized) -> i.IssuedOut:
    """A token for a user and password. Repeated failures for one name lock it for a while
    (429 until then)."""
    name = body.user.removeprefix("user:")
    # The audit record of the attempt names the user tried (never the password).
    request.scope[RESOURCE_NOTE] = f"users/{name}"
    store = identity(request, name)
    return i.issued_out(store.login(body.user, body.password, body.expires_in, body.scope))


@router.post("/auth/bootstrap", status_code=201, response_model=i.IssuedOut)
def bootstrap(request: Request, body: i.BootstrapIn, _public: Authorized) -> i.IssuedOut:
    """Exchange the server's one-time bootstrap token (USINA_BOOTSTRAP_TOKEN) for a new admin
    user and their token; it works once."""
    expected: str | None = request.app.state.bootstrap_hash
    given = secret_hash(body.bootstrap_token)
    if expected is None or not hmac.compare_digest(given, expected):
        raise Unauthenticated(
            "that is not this server's bootstrap token (USINA_BOOTSTRAP_TOKEN), or it has none"
        )
    store = identity(request, "bootstrap")
    return i.issued_out(store.bootstrap_admin(given, body.user, body.password, body.expires_in))


@router.get("/auth/whoami", response_model=i.WhoamiOut)
def whoami(caller: Authorized) -> i.WhoamiOut:
    """The principal the token speaks for, its scope, and what it allows where."""
    who = _who(caller)
    return i.WhoamiOut(
        principal=who.principal,
        token_id=who.token_id,
        expires_at=who.expires_at,
        scope=sorted(who.scope) if who.scope is not None else None,
        permissions=sorted(who.permissions()),
        grants=[i.GrantOut(scope=g.scope, permissions=sorted(g.permissions)) for g in who.grants],
    )
