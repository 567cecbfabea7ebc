"""Who a request speaks for, and whether they may: the bearer token, verified by the app's
``TokenVerifier``, and each route's permission from ``usina.identity.permissions.ROUTES``.

``authorize`` is the one check: it finds the rule of the route that matched, so a route
declares its permission in the catalogue, not in its code. A route the catalogue does not
list is refused (fail closed); one in ``PUBLIC`` needs no token; one in ``AUTHENTICATED``
needs any valid token (the route then checks what is the caller's own).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Request

from usina.errors import PermissionDenied
from usina.identity import Caller, TokenRefused, TokenVerifier
from usina.identity.credentials import MALFORMED
from usina.identity.gate import declared
from usina.identity.permissions import AUTHENTICATED, PUBLIC, ROUTES
from usina.identity.verifier import REFUSED

AUTHORIZATION = Header(
    description="Bearer TOKEN: a token from 'usina auth login' or 'usina tokens create'."
)


def verifier(request: Request) -> TokenVerifier:
    found: TokenVerifier = request.app.state.verifier
    return found


def caller(request: Request, authorization: Annotated[str | None, AUTHORIZATION] = None) -> Caller:
    """The verified caller; 401 without a valid bearer token."""
    if not authorization:
        raise TokenRefused("missing")
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise TokenRefused(MALFORMED)
    found = verifier(request).verify(secret.strip())
    request.state.caller = found
    return found


def route_key(request: Request) -> tuple[str, str]:
    """(method, path template) of the route that matched ``request``; a ``HEAD`` a route
    answers because it answers ``GET`` is checked as that ``GET``."""
    route = request.scope.get("route")
    return declared(request.method, str(getattr(route, "path", request.url.path)))


def authorize(
    request: Request, authorization: Annotated[str | None, AUTHORIZATION] = None
) -> Caller | None:
    """Check the matched route's rule; answers the caller (``None`` on a public route)."""
    key = route_key(request)
    if key in PUBLIC:
        return None
    who = caller(request, authorization)
    if key in AUTHENTICATED:
        return who
    rule = ROUTES.get(key)
    if rule is None:
        raise PermissionDenied(f"{key[0]} {key[1]} declares no permission; it is refused")
    if not who.allows(rule.permission, rule.resource(dict(request.path_params))):
        raise PermissionDenied(
            f"{who.principal} may not do this: it needs {rule.permission}; ask an admin for "
            "a role that has it ('usina roles list')"
        )
    return who


def require_admin_unless_own(who: Caller, principal: str, permission: str) -> None:
    """Refuse acting on another principal's tokens or password without ``permission``."""
    if principal != who.principal and not who.allows(permission):
        raise PermissionDenied(
            f"{who.principal} may act only on its own tokens and password; acting on "
            f"{principal}'s needs {permission}"
        )


__all__ = [
    "REFUSED",
    "authorize",
    "caller",
    "declared",
    "require_admin_unless_own",
    "route_key",
]
