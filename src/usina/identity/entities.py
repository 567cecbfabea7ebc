"""The records of identity and access: principals, roles, bindings and tokens."""

from __future__ import annotations

from dataclasses import dataclass

USER, GROUP, SERVICE_ACCOUNT = "user", "group", "service-account"
KINDS = (USER, GROUP, SERVICE_ACCOUNT)


@dataclass(frozen=True)
class Principal:
    """A user, a group or a service account, named ``kind:name`` (``user:ana``).

    ``members`` lists a group's members as principal names (users and service accounts);
    it is empty for the other kinds. ``has_password`` is true for a user who can log in.
    """

    kind: str
    name: str
    description: str
    members: tuple[str, ...]
    has_password: bool
    created_at: float
    created_by: str

    @property
    def ref(self) -> str:
        """``kind:name``, how bindings and tokens name the principal."""
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class Role:
    """A named set of permissions; the predefined roles cannot be changed or deleted."""

    name: str
    permissions: tuple[str, ...]
    description: str
    predefined: bool


@dataclass(frozen=True)
class Binding:
    """``principal`` holds ``role`` on ``resource``: ``*`` (the workspace) or ``KIND/NAME``."""

    id: int
    principal: str
    role: str
    resource: str
    created_at: float
    created_by: str


@dataclass(frozen=True)
class Token:
    """A credential's public record; its secret is shown once, when it is issued.

    An empty ``scope`` means every permission the holder has; otherwise the token allows only
    the listed permissions, and only those the holder has.
    """

    id: str
    principal: str
    name: str
    scope: tuple[str, ...]
    created_at: float
    created_by: str
    expires_at: float
    revoked_at: float | None
    last_used_at: float | None


@dataclass(frozen=True)
class IssuedToken:
    """A new token and its secret: the only time the secret is available."""

    token: Token
    secret: str
