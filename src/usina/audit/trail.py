"""``AuditTrail``: the ASGI middleware that writes one audit record per audited request.

The access check of a request (``usina.identity.gate``) leaves its verdict in the ASGI scope;
once the answer is sent, this middleware reads it with the status answered and hands one
``AuditEvent`` to an ``AuditRecorder`` (a queue: no database round trip on the request path).

What is recorded:

- every request that changes state (audit classes ``admin_write`` and ``data_write``), and
  every read of a secret's value (``secret_read``), whatever its outcome;
- every refused request: 401 (no valid token), 403 (not allowed, undeclared route), 404 when
  the gate hid a resource, 429 (login locked);
- requests that read data (``data_read``, predictions included) only with ``data_reads`` on
  (``USINA_AUDIT_DATA_READS``), as Google Cloud's Data Access audit logs are off by default.

A record holds the actor (the verified principal, or ``anonymous``), the action (the
permission, or an event such as ``auth.login``), the resource, the decision, the status, the
request id (the client's ``X-Request-Id`` or one made here, sent back in the answer), and the
client's address; never a header's secret or a body.
"""

from __future__ import annotations

import random
import re
from typing import Any, Protocol

from usina.audit.entities import AuditEvent, Decision
from usina.audit.recorder import AuditRecorder

VERDICT = "usina.verdict"  # the scope key the access check leaves its verdict under
RESOURCE_NOTE = "usina.audit.resource"  # a route may name its resource here (login: the user)
# Always recorded: changes, and reads of a secret's value.
_WRITES = ("admin_write", "data_write", "secret_read")
_REFUSED = (401, 403, 429)
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
_DECLARED = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._@\-]{0,127}")


class Verdict(Protocol):
    """What this middleware reads of an access check's verdict."""

    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def resource(self) -> str: ...
    @property
    def audit_class(self) -> str: ...
    @property
    def denied(self) -> bool: ...
    @property
    def reason(self) -> str: ...


class Auditor:
    """Turn one answered request's verdict into an audit record, when it is one to record.

    ``AuditTrail`` calls it for the routes it wraps; a route that answers on its own (the
    predict routes of ``usina serve``) calls ``note`` itself once it has answered, so its
    requests pay for no wrapper.
    """

    def __init__(self, recorder: AuditRecorder, *, data_reads: bool = False) -> None:
        self.recorder = recorder
        self.data_reads = data_reads

    def wanted(self, verdict: Verdict, status: int) -> bool:
        """Whether a request with ``verdict``, answered with ``status``, is recorded."""
        return (
            verdict.denied
            or status in _REFUSED
            or verdict.audit_class in _WRITES
            or (self.data_reads and verdict.audit_class == "data_read" and bool(verdict.action))
        )

    def note(self, verdict: Verdict, status: int, request_id: str, scope: Any) -> None:
        """Record the request of ``scope`` if ``wanted``."""
        if not self.wanted(verdict, status):
            return
        denied = verdict.denied or status in _REFUSED
        details: dict[str, Any] = {}
        if verdict.reason:
            details["reason"] = verdict.reason
        if verdict.actor == "anonymous":
            declared = _request_header(scope, b"x-usina-actor")
            if declared and _DECLARED.fullmatch(declared):
                # Self-declared, recorded as such: only a verified token names the actor.
                details["declared_actor"] = declared.decode("latin-1")
        client = scope.get("client")
        self.recorder.record(
            AuditEvent(
                actor=verdict.actor,
                action=verdict.action or "http.request",
                resource=scope.get(RESOURCE_NOTE) or verdict.resource,
                decision=Decision.DENY if denied else Decision.ALLOW,
                status=status,
                request_id=request_id,
                client=str(client[0]) if client else "",
                details=details,
            )
        )


class AuditTrail:
    """Record audited requests of ``app`` with ``recorder``: as the app's middleware, or
    around one route.

    Args:
        app: the ASGI app whose routes leave a verdict in the scope.
        recorder: where events go (started and closed by the app's lifespan).
        data_reads: also record requests that only read data.
    """

    def __init__(self, app: Any, recorder: AuditRecorder, *, data_reads: bool = False) -> None:
        self.app = app
        self.auditor = Auditor(recorder, data_reads=data_reads)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer = _Answer(scope, send)
        try:
            await self.app(scope, receive, answer.send)
        finally:
            verdict = scope.get(VERDICT)
            if verdict is not None:
                self.auditor.note(verdict, answer.status, answer.request_id(), scope)


class _Answer:
    """The ``send`` of one request, noting the status answered and making sure the answer
    carries a request id (the client's, else one made here)."""

    __slots__ = ("_request_id", "_send", "scope", "status")

    def __init__(self, scope: Any, send: Any) -> None:
        self.scope = scope
        self._send = send
        self.status = 500
        self._request_id = ""

    def request_id(self) -> str:
        if not self._request_id:  # never answered: the client's id, if any
            self._request_id = _client_request_id(self.scope)
        return self._request_id

    async def send(self, message: Any) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            answered = _header(message, b"x-request-id")
            if answered is not None:
                self._request_id = answered
            else:
                request_id = _client_request_id(self.scope) or f"{random.getrandbits(128):032x}"
                self._request_id = request_id
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
        await self._send(message)


def _request_header(scope: Any, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _client_request_id(scope: Any) -> str:
    """The request id the client sent, if it is a well-formed one; else empty."""
    value = _request_header(scope, b"x-request-id")
    return value.decode("latin-1") if value and _REQUEST_ID.fullmatch(value) else ""


def _header(message: Any, name: bytes) -> str | None:
    for key, value in message.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
