"""Principals, roles, bindings and tokens on a usina server, through its REST API: the same
protocol as ``SqlIdentityStore`` (which the server runs, so both refuse the same input)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

from usina.connection import ServerConnection, segment
from usina.identity import checks
from usina.identity.entities import (
    GROUP,
    SERVICE_ACCOUNT,
    USER,
    Binding,
    IssuedToken,
    Principal,
    Role,
    Token,
)

PAGE = 1000
# Each kind of principal has its own collection of routes.
COLLECTIONS = {USER: "/users", GROUP: "/groups", SERVICE_ACCOUNT: "/service-accounts"}


def principal_from_json(d: dict[str, Any]) -> Principal:
    return Principal(
        d["kind"],
        d["name"],
        d["description"],
        tuple(d["members"]),
        d["has_password"],
        d["created_at"],
        d["created_by"],
    )


def role_from_json(d: dict[str, Any]) -> Role:
    return Role(d["name"], tuple(d["permissions"]), d["description"], d["predefined"])


def binding_from_json(d: dict[str, Any]) -> Binding:
    return Binding(
        d["id"], d["principal"], d["role"], d["resource"], d["created_at"], d["created_by"]
    )


def token_from_json(d: dict[str, Any]) -> Token:
    return Token(
        d["id"],
        d["principal"],
        d["name"],
        tuple(d["scope"]),
        d["created_at"],
        d["created_by"],
        d["expires_at"],
        d["revoked_at"],
        d["last_used_at"],
    )


def issued_from_json(d: dict[str, Any]) -> IssuedToken:
    return IssuedToken(token_from_json(d["token"]), d["secret"])


class HttpIdentityStore:
    """Identity and access kept by the server ``server`` talks to."""

    def __init__(self, server: ServerConnection) -> None:
        self.server = server

    # -- principals -----------------------------------------------------------------------

    def create_principal(
        self,
        kind: str,
        name: str,
        *,
        password: str | None = None,
        description: str = "",
        members: Iterable[str] = (),
    ) -> Principal:
        checks.check_kind(kind)
        body: dict[str, Any] = {"name": name, "description": description}
        if password is not None:
            body["password"] = password
        members = list(members)
        if members:
            body["members"] = members
        return principal_from_json(self.server.call("POST", COLLECTIONS[kind], json=body))

    def get_principal(self, ref: str) -> Principal:
        kind, name = checks.parse_ref(ref)
        return principal_from_json(self.server.call("GET", f"{COLLECTIONS[kind]}/{segment(name)}"))

    def list_principals(self, kind: str | None = None) -> builtins.list[Principal]:
        kinds = [checks.check_kind(kind)] if kind is not None else sorted(COLLECTIONS)
        return [principal_from_json(p) for k in kinds for p in self._pages(COLLECTIONS[k], {})]

    def set_members(
        self, group: str, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> Principal:
        checks.check_name(group, "group")
        body = {"add": list(add), "remove": list(remove)}
        return principal_from_json(
            self.server.call("POST", f"/groups/{segment(group)}/members", json=body)
        )

    def set_password(self, user: str, password: str) -> None:
        name = checks.check_user_ref(user)
        self.server.call("PUT", f"/users/{segment(name)}/password", json={"password": password})

    def delete_principal(self, ref: str) -> None:
        kind, name = checks.parse_ref(ref)
        self.server.call("DELETE", f"{COLLECTIONS[kind]}/{segment(name)}")

    # -- roles and bindings ---------------------------------------------------------------

    def create_role(self, name: str, permissions: Iterable[str], description: str = "") -> Role:
        if isinstance(permissions, str):
            checks.check_permissions(permissions)  # refuses a bare string, naming the field
        body = {"name": name, "permissions": list(permissions), "description": description}
        return role_from_json(self.server.call("POST", "/roles", json=body))

    def get_role(self, name: str) -> Role:
        checks.check_name(name)
        return role_from_json(self.server.call("GET", f"/roles/{segment(name)}"))

    def list_roles(self) -> builtins.list[Role]:
        return [role_from_json(r) for r in self._pages("/roles", {})]

    def delete_role(self, name: str) -> None:
        checks.check_name(name)
        self.server.call("DELETE", f"/roles/{segment(name)}")

    def bind(self, principal: str, role: str, resource: str = "*") -> Binding:
        body = {"principal": principal, "role": role, "resource": resource}
        return binding_from_json(self.server.call("POST", "/bindings", json=body))

    def list_bindings(
        self, principal: str | None = None, resource: str | None = None
    ) -> builtins.list[Binding]:
        params = {"principal": principal, "resource": resource}
        return [binding_from_json(b) for b in self._pages("/bindings", params)]

    def unbind(self, binding_id: int) -> None:
        checks.check_binding_id(binding_id)
        self.server.call("DELETE", f"/bindings/{binding_id}")

    # -- tokens and logins ----------------------------------------------------------------

    def issue_token(
        self, principal: str, expires_in: float, scope: Iterable[str] = (), name: str = ""
    ) -> IssuedToken:
        if isinstance(scope, str):
            checks.check_permissions(scope, "scope")
        body = {"principal": principal, "expires_in": expires_in, "scope": list(scope)}
        if name:
            body["name"] = name
        return issued_from_json(self.server.call("POST", "/tokens", json=body))

    def list_tokens(self, principal: str | None = None) -> builtins.list[Token]:
        return [token_from_json(d) for d in self._pages("/tokens", {"principal": principal})]

    def revoke_token(self, token_id: str) -> Token:
        checks.check_token_id(token_id)
        return token_from_json(self.server.call("POST", f"/tokens/{token_id}/revoke"))

    def login(
        self,
        user: str,
        password: str,
        expires_in: float | None = None,
        scope: Iterable[str] = (),
    ) -> IssuedToken:
        if isinstance(scope, str):
            checks.check_permissions(scope, "scope")
        body: dict[str, Any] = {"user": user, "password": password, "scope": list(scope)}
        if expires_in is not None:
            body["expires_in"] = expires_in
        return issued_from_json(self.server.call("POST", "/auth/login", json=body))

    def bootstrap_admin(
        self, bootstrap_token: str, user: str, password: str, expires_in: float | None = None
    ) -> IssuedToken:
        """Exchange the server's one-time bootstrap token for a new admin user's token."""
        body: dict[str, Any] = {
            "bootstrap_token": bootstrap_token,
            "user": user,
            "password": password,
        }
        if expires_in is not None:
            body["expires_in"] = expires_in
        return issued_from_json(self.server.call("POST", "/auth/bootstrap", json=body))

    def whoami(self) -> dict[str, Any]:
        """The principal the connection's token speaks for, and what it allows."""
        found: dict[str, Any] = self.server.call("GET", "/auth/whoami")
        return found

    def _pages(self, route: str, params: dict[str, Any]) -> builtins.list[dict[str, Any]]:
        found: builtins.list[dict[str, Any]] = []
        next_offset: int | None = 0
        while next_offset is not None:
            page = self.server.call(
                "GET", route, params={**params, "limit": PAGE, "offset": next_offset}
            )
            found.extend(page["items"])
            next_offset = page["next_offset"]
        return found
