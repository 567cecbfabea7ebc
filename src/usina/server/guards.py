"""ASGI middleware that guards every request: the Host allow-list and body size limits.

Both run before routing, so a refused request costs no database work.
"""

from __future__ import annotations

from typing import Any

import orjson

from usina.errors import PayloadTooLarge

Scope = dict[str, Any]
ASGIApp = Any

UPLOAD_PREFIX = "/api/v1/artifacts/"
MAX_JSON_BYTES = 16 * 2**20


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _refuse(send: Any, status: int, code: str, message: str, field: str | None) -> None:
    body = orjson.dumps({"error": {"code": code, "message": message, "field": field}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def host_name(host: str) -> str:
    """The name in a Host header: ``[::1]:80`` -> ``::1``, ``Example.com:80`` -> ``example.com``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


class HostGuard:
    """Answer only requests whose Host header names this server (defeats DNS rebinding)."""

    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app = app
        self.any = "*" in allowed
        self.allowed = {host_name(h) for h in allowed}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.any:
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host")
        if host is None or host_name(host) not in self.allowed:
            await _refuse(
                send,
                400,
                "invalid_input",
                f"Host {host!r} is not one this server answers to; add it with "
                "'usina server --allowed-host' (or USINA_ALLOWED_HOSTS)",
                "Host",
            )
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse bodies over the limit with 413: artifact uploads have their own, larger one."""

    def __init__(
        self, app: ASGIApp, max_upload_bytes: int, max_json_bytes: int = MAX_JSON_BYTES
    ) -> None:
        self.app = app
        self.max_upload = max_upload_bytes
        self.max_json = max_json_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["method"] == "PUT" and scope["path"].startswith(UPLOAD_PREFIX)
        limit = self.max_upload if upload else self.max_json
        what = "an artifact upload" if upload else "a request body"
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _refuse(
                send,
                413,
                "payload_too_large",
                f"{what} of {int(length)} bytes is over the server's limit of {limit} bytes",
                "body",
            )
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLarge(
                        f"{what} is over the server's limit of {limit} bytes", field="body"
                    )
            return message

        await self.app(scope, counted, send)
