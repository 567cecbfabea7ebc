"""``AuditTrail``: the ASGI middleware that writes one audit record per audited request.

The access check of a request (``usina.identity.gate``) leaves its verdict in the ASGI scope;
once the answer is sent, this middleware reads it with the status answered and hands one
``AuditEvent`` to an ``AuditRecorder`` (a queue: no database round trip on the request path).

What is recorded:

- every request that changes state (audit classes ``admin_write`` and ``data_write``),
  whatever its outcome;
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
_WRITES = ("admin_write", "data_write")
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


class AuditTrail:
    """Record audited requests of ``app`` with ``recorder``.

    Args:
        app: the ASGI app whose routes leave a verdict in the scope.
        recorder: where events go (started and closed by the app's lifespan).
        data_reads: also record requests that only read data.
    """

    def __init__(self, app: Any, recorder: AuditRecorder, *, data_reads: bool = False) -> None:
        self.app = app
        self.recorder = recorder
        self.data_reads = data_reads

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        request_id = ""
        declared = b""
        for key, value in scope["headers"]:
            if key == b"x-request-id" and _REQUEST_ID.fullmatch(value):
                request_id = value.decode("latin-1")
            elif key == b"x-usina-actor":
                declared = value

        async def noted(message: Any) -> None:
            nonlocal status, request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                answered = _header(message, b"x-request-id")
                if answered is not None:
                    request_id = answered
                else:
                    if not request_id:
                        request_id = f"{random.getrandbits(128):032x}"
                    message["headers"] = [
                        *message.get("headers", ()),
                        (b"x-request-id", request_id.encode("latin-1")),
                    ]
            await send(message)

        try:
            await self.app(scope, receive, noted)
        finally:
            verdict = scope.get(VERDICT)
            if verdict is not None:
                self._note(verdict, status, request_id, scope, declared)

    def _note(
        self, verdict: Verdict, status: int, request_id: str, scope: Any, declared: bytes
    ) -> None:
        denied = verdict.denied or status in _REFUSED
        audit_class = verdict.audit_class
        if not (
            denied
            or audit_class in _WRITES
            or (self.data_reads and audit_class == "data_read" and verdict.action)
        ):
            return
        details: dict[str, Any] = {}
        if verdict.reason:
            details["reason"] = verdict.reason
        if verdict.actor == "anonymous" and declared and _DECLARED.fullmatch(declared):
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


def _header(message: Any, name: bytes) -> str | None:
    for key, value in message.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
