"""Identity and access: principals (users, groups, service accounts), roles of
``usina.<resource>.<verb>`` permissions, bindings, and expiring scoped tokens."""

from usina.identity.base import AccessStore, IdentityStore, PrincipalStore, TokenStore
from usina.identity.entities import (
    GROUP,
    KINDS,
    SERVICE_ACCOUNT,
    USER,
    Binding,
    IssuedToken,
    Principal,
    Role,
    Token,
)
from usina.identity.permissions import PERMISSIONS, ROLES, Grant, allows
from usina.identity.sql import SqlIdentityStore
from usina.identity.verifier import Caller, TokenRefused, TokenVerifier

__all__ = [
    "GROUP",
    "KINDS",
    "PERMISSIONS",
    "ROLES",
    "SERVICE_ACCOUNT",
    "USER",
    "AccessStore",
    "Binding",
    "Caller",
    "Grant",
    "IdentityStore",
    "IssuedToken",
    "Principal",
    "PrincipalStore",
    "Role",
    "SqlIdentityStore",
    "Token",
    "TokenRefused",
    "TokenStore",
    "TokenVerifier",
    "allows",
]
