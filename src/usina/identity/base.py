"""The identity store protocols: principals, access (roles and bindings), and tokens.
``SqlIdentityStore`` keeps them in the metadata database; ``HttpIdentityStore`` reaches them
through a usina server. Both pass ``usina.testing.check_identity_store``.

Example:
    >>> import usina
    >>> client = usina.Client("sqlite://", "memory://")
    >>> [r.name for r in client.identity.list_roles()][:2]
    ['viewer', 'data-scientist']
    >>> client.identity.create_principal("service-account", "trainer").ref
    'service-account:trainer'
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Protocol

from usina.identity.entities import Binding, IssuedToken, Principal, Role, Token


class PrincipalStore(Protocol):
    """Users, groups and service accounts, each named ``kind:name``."""

    def create_principal(
        self,
        kind: str,
        name: str,
        *,
        password: str | None = None,
        description: str = "",
        members: Iterable[str] = (),
    ) -> Principal:
        """Add a principal; only a user has a password (at least 12 characters), only a group
        has members (users and service accounts). ``Conflict`` if the name is taken."""
        ...

    def get_principal(self, ref: str) -> Principal:
        """The principal ``kind:name``; ``NotFound`` if there is none."""
        ...

    def list_principals(self, kind: str | None = None) -> builtins.list[Principal]:
        """Every principal (or those of one kind), by kind and name."""
        ...

    def set_members(
        self, group: str, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> Principal:
        """Add and remove members of ``group``; answers the group."""
        ...

    def set_password(self, user: str, password: str) -> None:
        """Replace a user's password."""
        ...

    def delete_principal(self, ref: str) -> None:
        """Delete a principal with its bindings, memberships and tokens."""
        ...


class AccessStore(Protocol):
    """Roles (predefined and custom) and the bindings that give them to principals."""

    def create_role(self, name: str, permissions: Iterable[str], description: str = "") -> Role:
        """Add a custom role from known permissions."""
        ...

    def get_role(self, name: str) -> Role:
        """A predefined or custom role; ``NotFound`` if there is none."""
        ...

    def list_roles(self) -> builtins.list[Role]:
        """The predefined roles, then the custom ones by name."""
        ...

    def delete_role(self, name: str) -> None:
        """Delete a custom role no binding uses."""
        ...

    def bind(self, principal: str, role: str, resource: str = "*") -> Binding:
        """Give ``principal`` ``role`` on the workspace (``*``) or one resource
        (``models/credit``)."""
        ...

    def list_bindings(
        self, principal: str | None = None, resource: str | None = None
    ) -> builtins.list[Binding]:
        """Bindings, oldest first, optionally of one principal or on one resource."""
        ...

    def unbind(self, binding_id: int) -> None:
        """Remove a binding."""
        ...


class TokenStore(Protocol):
    """Tokens: issued to users and service accounts, expiring, scoped, revocable."""

    def issue_token(
        self, principal: str, expires_in: float, scope: Iterable[str] = (), name: str = ""
    ) -> IssuedToken:
        """A new token for ``principal``, valid ``expires_in`` seconds (at most the
        installation's maximum); a non-empty ``scope`` narrows it to those permissions.
        The secret is in the answer and nowhere else."""
        ...

    def list_tokens(self, principal: str | None = None) -> builtins.list[Token]:
        """Tokens (never their secrets), oldest first."""
        ...

    def revoke_token(self, token_id: str) -> Token:
        """Revoke a token; it stops working everywhere within a second."""
        ...

    def login(
        self,
        user: str,
        password: str,
        expires_in: float | None = None,
        scope: Iterable[str] = (),
    ) -> IssuedToken:
        """A token for ``user`` if ``password`` is theirs; ``Unauthenticated`` if not, and
        ``TooManyAttempts`` while the name is locked after repeated failures."""
        ...


class IdentityStore(PrincipalStore, AccessStore, TokenStore, Protocol):
    """Everything identity and access keeps: principals, roles, bindings and tokens."""
