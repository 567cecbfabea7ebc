"""The JSON bodies of the identity routes (``/api/v1/users``, ``/groups``,
``/service-accounts``, ``/roles``, ``/bindings``, ``/tokens``, ``/auth/...``). The store checks
the values in detail; these models bound sizes and types and describe the answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from usina.identity import Binding, IssuedToken, Principal, Role, Token
from usina.server.schemas import Strict

_NAME = Field(max_length=128, description="Letters, digits and '._@-'.")
_REF = Field(max_length=256, description="KIND:NAME, as user:ana or service-account:trainer.")
_DESCRIPTION = Field(default="", max_length=2000)
_PASSWORD = Field(max_length=1024, description="At least 12 characters.")
_PERMISSIONS: Any = Field(default_factory=list, max_length=200, description="Permission names.")
_EXPIRES = Field(gt=0, le=2**31, description="Lifetime in seconds (at most the server's max).")


class UserIn(Strict):
    name: str = _NAME
    password: str | None = Field(default=None, max_length=1024, description="12+ characters.")
    description: str = _DESCRIPTION


class ServiceAccountIn(Strict):
    name: str = _NAME
    description: str = _DESCRIPTION


class GroupIn(Strict):
    name: str = _NAME
    description: str = _DESCRIPTION
    members: list[str] = Field(default_factory=list, max_length=1000)


class MembersIn(Strict):
    add: list[str] = Field(default_factory=list, max_length=1000)
    remove: list[str] = Field(default_factory=list, max_length=1000)


class PasswordIn(Strict):
    password: str = _PASSWORD


class PrincipalOut(BaseModel):
    kind: str = Field(description="user, group or service-account.")
    name: str
    description: str
    members: list[str] = Field(description="A group's members, as KIND:NAME.")
    has_password: bool
    created_at: float
    created_by: str


def principal_out(p: Principal) -> PrincipalOut:
    return PrincipalOut(
        kind=p.kind,
        name=p.name,
        description=p.description,
        members=list(p.members),
        has_password=p.has_password,
        created_at=p.created_at,
        created_by=p.created_by,
    )


class RoleIn(Strict):
    name: str = _NAME
    permissions: list[str] = _PERMISSIONS
    description: str = _DESCRIPTION


class RoleOut(BaseModel):
    name: str
    permissions: list[str]
    description: str
    predefined: bool


def role_out(r: Role) -> RoleOut:
    return RoleOut(
        name=r.name,
        permissions=list(r.permissions),
        description=r.description,
        predefined=r.predefined,
    )


class BindingIn(Strict):
    principal: str = _REF
    role: str = _NAME
    resource: str = Field(
        default="*", max_length=512, description="'*' (the workspace) or KIND/NAME."
    )


class BindingOut(BaseModel):
    id: int
    principal: str
    role: str
    resource: str
    created_at: float
    created_by: str


def binding_out(b: Binding) -> BindingOut:
    return BindingOut(**b.__dict__)


class TokenIn(Strict):
    principal: str | None = Field(
        default=None, max_length=256, description="Whose token; the caller's own by default."
    )
    expires_in: float = _EXPIRES
    scope: list[str] = _PERMISSIONS
    name: str = Field(default="", max_length=128)


class TokenOut(BaseModel):
    id: str
    principal: str
    name: str
    scope: list[str] = Field(description="Permissions it is narrowed to; empty: all held.")
    created_at: float
    created_by: str
    expires_at: float
    revoked_at: float | None
    last_used_at: float | None


def token_out(t: Token) -> TokenOut:
    return TokenOut(**{**t.__dict__, "scope": list(t.scope)})


class IssuedOut(BaseModel):
    token: TokenOut
    secret: str = Field(description="The token itself: shown this once, never stored.")


def issued_out(i: IssuedToken) -> IssuedOut:
    return IssuedOut(token=token_out(i.token), secret=i.secret)


class LoginIn(Strict):
    user: str = _NAME
    password: str = Field(max_length=1024)
    expires_in: float | None = Field(default=None, gt=0, le=2**31)
    scope: list[str] = _PERMISSIONS


class BootstrapIn(Strict):
    bootstrap_token: str = Field(max_length=1024, description="USINA_BOOTSTRAP_TOKEN's value.")
    user: str = _NAME
    password: str = _PASSWORD
    expires_in: float | None = Field(default=None, gt=0, le=2**31)


class GrantOut(BaseModel):
    scope: str = Field(description="'*' (the workspace) or KIND/NAME.")
    permissions: list[str]


class WhoamiOut(BaseModel):
    principal: str
    token_id: str
    expires_at: float
    scope: list[str] | None = Field(description="The token's scope; null when unscoped.")
    permissions: list[str] = Field(description="What the token allows, somewhere.")
    grants: list[GrantOut]
