"""``Gate``: the one access decision for every request of ``usina server`` and ``usina serve``.

A request is checked after routing, from its route's template (``/api/v1/models/{name}``) and
path parameters, against ``usina.identity.permissions``. The answer is a ``Verdict``: allowed
(status 0) or refused with 401, 403 or 404, and what the audit log records about it (actor,
action, resource, audit class). The edges put the verdict in the ASGI scope under ``VERDICT``
for the audit middleware to read once the answer is sent.

Modes:

- ``auth=False``: any caller, no token; the actor is whatever the client declares. A route
  declared nowhere is still refused with 403 (fail closed).
- ``auth=True``: a valid bearer token on every route but the public ones; the route's
  permission, on the resource its path names, must be granted to the token's holder and within
  the token's scope. A per-resource refusal answers 404 when the caller holds nothing on that
  resource (it cannot learn the resource exists), 403 when it holds something there.

``GatedApp`` wraps a plain ASGI route (a static mount, a Starlette route) with the same check;
FastAPI routes call ``Gate.check`` from an app-wide dependency.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson

from usina.identity.permissions import (
    ADMIN_WRITE,
    AUTHENTICATED,
    DATA_READ,
    METRICS,
    PERMISSIONS,
    PUBLIC,
    ROUTES,
)
from usina.identity.verifier import REFUSED, Caller, TokenRefused, TokenVerifier

VERDICT = "usina.verdict"  # the scope key the verdict of a request is kept under
_MAX_GRANTED = 4_096  # allowed verdicts kept for reuse (cleared when full)
ANONYMOUS = "anonymous"
UNDECLARED = "route.undeclared"

# What the audit log calls the routes that are not one permission: (action, audit class).
# Public and "any valid token" routes not listed here are not audited (health, metrics).
_ACTIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("POST", "/api/v1/auth/login"): ("auth.login", ADMIN_WRITE),
    ("POST", "/api/v1/auth/bootstrap"): ("auth.bootstrap", ADMIN_WRITE),
    ("POST", "/ui/login"): ("auth.login", ADMIN_WRITE),
    ("POST", "/ui/logout"): ("auth.logout", ADMIN_WRITE),
    ("POST", "/api/v1/tokens"): ("auth.tokens.issue", ADMIN_WRITE),
    ("POST", "/api/v1/tokens/{token_id}/revoke"): ("auth.tokens.revoke", ADMIN_WRITE),
    ("PUT", "/api/v1/users/{name}/password"): ("auth.password.set", ADMIN_WRITE),
    ("GET", "/api/v1/tokens"): ("auth.tokens.list", DATA_READ),
    ("GET", "/api/v1/auth/whoami"): ("auth.whoami", DATA_READ),
    METRICS: ("metrics.read", DATA_READ),
}

# The permissions' family each resource kind belongs to: holding any of them on a resource
# means the caller may know that it exists.
_FAMILY = {
    "models": "usina.models.",
    "endpoints": "usina.endpoints.",
    "experiments": "usina.runs.",
    "schedules": "usina.schedules.",
    "pipelines": "usina.pipelines.",
    "monitors": "usina.monitors.",
}


class Verdict(NamedTuple):
    """What the gate decided for one request.

    ``status`` is 0 when the request may go on, else the HTTP status to answer (401, 403,
    404) with ``code`` and ``message``. ``action`` is empty for requests the audit log never
    records (health, readiness); ``audit_class`` is ``admin_write``, ``data_write`` or
    ``data_read``. ``reason`` says why a token was refused (``missing``, ``expired``...),
    for the records, never for the client. (A named tuple: one is built per request, and a
    tuple is the cheapest immutable record Python builds.)
    """

    status: int
    caller: Caller | None
    action: str
    resource: str
    audit_class: str
    code: str = ""
    message: str = ""
    reason: str = ""

    @property
    def actor(self) -> str:
        """Who the audit log names: the verified principal, else ``anonymous``."""
        return self.caller.principal if self.caller is not None else ANONYMOUS

    @property
    def denied(self) -> bool:
        return self.status != 0


def declared(method: str, path: str) -> tuple[str, str]:
    """The key ``method path`` is declared under in the permission tables (a ``HEAD`` a route
    answers because it answers ``GET`` is checked as that ``GET``)."""
    key = (method, path)
    if method == "HEAD" and key not in ROUTES and key not in PUBLIC:
        return "GET", path
    return key


class Gate:
    """Decide requests by their route template, path parameters and bearer token.

    Args:
        verifier: checks bearer tokens (cached: no database round trip per request).
        auth: whether tokens are required (``USINA_AUTH=on``).
        metrics_public: with ``auth``, let ``/metrics`` be scraped without a token.

    Example:
        >>> from usina.store import Database
        >>> gate = Gate(TokenVerifier(Database("sqlite://")), auth=True)
        >>> gate.check("GET", "/api/v1/models/{name}", {"name": "credit"}, None).status
        401
        >>> gate.check("GET", "/healthz", {}, None).status
        0
    """

    def __init__(
        self, verifier: TokenVerifier, *, auth: bool, metrics_public: bool = False
    ) -> None:
        self.verifier = verifier
        self.auth = auth
        self.metrics_public = metrics_public
        self._granted: dict[tuple[int, str, str], Verdict] = {}

    def check(
        self,
        method: str,
        template: str,
        params: Mapping[str, Any],
        authorization: str | None,
    ) -> Verdict:
        """The verdict on ``method template`` with path parameters ``params``, for a caller
        presenting ``authorization`` (the Authorization header, or ``None``)."""
        key = (method, template)
        rule = ROUTES.get(key)
        if rule is None:
            key = declared(method, template)
            rule = ROUTES.get(key)
        if rule is None:
            action, audit_class = _ACTIONS.get(key, ("", ""))
            if key in PUBLIC or (key == METRICS and (self.metrics_public or not self.auth)):
                return Verdict(0, None, action, "", audit_class)
            if key not in AUTHENTICATED and key != METRICS:
                return Verdict(
                    403,
                    None,
                    UNDECLARED,
                    "",
                    ADMIN_WRITE,
                    "permission_denied",
                    f"{key[0]} {key[1]} declares no permission; it is refused",
                )
            if not self.auth:
                return Verdict(0, None, action, "", audit_class)
            who = self._caller(authorization)
            if isinstance(who, Verdict):
                return Verdict(401, None, action or "auth.token", "", ADMIN_WRITE, *_refusal(who))
            return Verdict(0, who, action, "", audit_class)
        permission = rule.permission
        resource = rule.resource(params)
        audit_class = PERMISSIONS[permission].audit_class
        where = resource or ""
        if not self.auth:
            return Verdict(0, None, permission, where, audit_class)
        who = self._caller(authorization)
        if isinstance(who, Verdict):
            return Verdict(401, None, permission, where, audit_class, *_refusal(who))
        # A caller is immutable and lives as long as its cached token entry (a second at
        # most), so what it was allowed once it is allowed again: the same verdict object.
        # The cache holds the caller, so its id names no other object while the entry lives.
        granted = (id(who), permission, where)
        verdict = self._granted.get(granted)
        if verdict is not None and verdict.caller is who:
            return verdict
        if who.allows(permission, resource):
            if len(self._granted) >= _MAX_GRANTED:
                self._granted.clear()
            verdict = self._granted[granted] = Verdict(0, who, permission, where, audit_class)
            return verdict
        if resource is not None and not _sees(who, resource):
            return Verdict(
                404, who, permission, where, audit_class, "not_found", f"{resource} was not found"
            )
        return Verdict(
            403,
            who,
            permission,
            where,
            audit_class,
            "permission_denied",
            f"{who.principal} may not do this{' on ' + resource if resource else ''}: it needs "
            f"{permission}; ask an admin for a role that has it ('usina roles list')",
        )

    def _caller(self, authorization: str | None) -> Caller | Verdict:
        """The verified caller, or a refusal carrying the reason in ``reason``."""
        if authorization is not None and authorization.startswith("Bearer "):
            secret = authorization[7:].strip()  # the usual spelling: no further parsing
        elif not authorization:
            return Verdict(401, None, "", "", "", reason="missing")
        else:
            scheme, _, secret = authorization.partition(" ")
            if scheme.lower() != "bearer":
                return Verdict(401, None, "", "", "", reason="malformed")
            secret = secret.strip()
        if not secret:
            return Verdict(401, None, "", "", "", reason="malformed")
        try:
            return self.verifier.verify(secret)
        except TokenRefused as exc:
            return Verdict(401, None, "", "", "", reason=exc.reason)


def _refusal(refused: Verdict) -> tuple[str, str, str]:
    return "unauthenticated", REFUSED, refused.reason


def _sees(who: Caller, resource: str) -> bool:
    """Whether ``who`` holds any permission of ``resource``'s family on it."""
    family = _FAMILY.get(resource.partition("/")[0])
    if family is None:
        return False
    return any(p.startswith(family) and who.allows(p, resource) for p in who.permissions())


def authorization(scope: Mapping[str, Any]) -> str | None:
    """The Authorization header of an ASGI request, or ``None``."""
    for key, value in scope["headers"]:
        if key == b"authorization":
            return str(value.decode("latin-1"))
    return None


def error_body(verdict: Verdict) -> bytes:
    """A refusal in the REST API's shape: ``{"error": {"code", "message", "field"}}``."""
    return orjson.dumps(
        {"error": {"code": verdict.code, "message": verdict.message, "field": None}}
    )


async def answer_refusal(send: Any, verdict: Verdict, body: bytes | None = None) -> None:
    """Send the refusal ``verdict`` (``body`` in the REST shape unless given)."""
    content = error_body(verdict) if body is None else body
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(content)),
    ]
    if verdict.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": verdict.status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


class GatedApp:
    """A plain ASGI route app, let through only when ``gate`` allows the request.

    ``template`` is the route's path template; the verdict goes into the scope under
    ``VERDICT`` whatever it is, so the audit middleware records it.
    """

    def __init__(self, app: Any, gate: Gate, template: str) -> None:
        self.app = app
        self.gate = gate
        self.template = template

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        verdict = self.gate.check(
            scope["method"], self.template, scope.get("path_params") or {}, authorization(scope)
        )
        scope[VERDICT] = verdict
        if verdict.status:
            await answer_refusal(send, verdict)
            return
        await self.app(scope, receive, send)
