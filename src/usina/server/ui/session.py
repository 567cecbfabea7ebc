"""The console's session and its protection: ``ConsoleSession``, ASGI middleware for ``/ui``.

A browser logs in once (``POST /ui/login``) and keeps the token it was issued in a cookie
(``usina_session``: HttpOnly, SameSite=Strict, path ``/ui``). For every ``/ui`` request the
middleware hands that token to the server's one access check as the bearer token it is, so a
page is allowed, refused and audited exactly as the REST route with the same permission.

Forms are protected against cross-site requests twice: the cookies are SameSite=Strict, and
every ``POST`` carries a CSRF token (double submit: a random ``usina_csrf`` cookie and the same
value in the form's ``csrf`` field). A request that brings its own Authorization header uses
no ambient credential and needs no CSRF token. The form's fields are parsed here (URL-encoded,
at most ``MAX_FORM`` bytes) and left in the scope under ``FORM`` for the page.

Refusals of ``/ui`` pages come back from the access check as JSON; they are turned into
pages here: a ``GET`` without a valid session goes to the login page, anything else gets an
HTML page saying what was refused and why.
"""

from __future__ import annotations

import hmac
import secrets
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote

import orjson

PREFIX = "/ui"
SESSION = "usina_session"
CSRF = "usina_csrf"
FORM = "usina.ui.form"  # the scope key of a POST's parsed fields
CSRF_VALUE = "usina.ui.csrf"  # the scope key of the CSRF token the page's forms carry
MAX_FORM = 64 * 1024


def cookies(scope: dict[str, Any]) -> dict[str, str]:
    """The request's cookies by name."""
    jar: SimpleCookie = SimpleCookie()
    for key, value in scope["headers"]:
        if key == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header counts as none
                return {}
    return {k: m.value for k, m in jar.items()}


def cookie_header(name: str, value: str, *, max_age: int | None, secure: bool) -> bytes:
    """A ``Set-Cookie`` value for the console: HttpOnly, SameSite=Strict, path ``/ui``."""
    parts = [f"{name}={value}", f"Path={PREFIX}", "HttpOnly", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode("latin-1")


class ConsoleSession:
    """ASGI middleware: session cookie to bearer token, CSRF check, refusals as pages."""

    def __init__(self, app: Any, render_error: Any) -> None:
        self.app = app
        # (status, message, path) -> HTML bytes: the console's error page.
        self.render_error = render_error

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        jar = cookies(scope)
        headers = list(scope["headers"])
        explicit = any(k == b"authorization" for k, _ in headers)
        token = jar.get(SESSION)
        if token and not explicit:
            # Mutated in place: the audit middleware outside reads the verdict from this scope.
            headers.append((b"authorization", b"Bearer " + token.encode("latin-1")))
            scope["headers"] = headers
        csrf = jar.get(CSRF) or ""
        fresh = not csrf
        if fresh:
            csrf = secrets.token_urlsafe(24)
        scope[CSRF_VALUE] = csrf
        if scope["method"] == "POST":
            body = await _read_body(receive)
            if body is None:
                await self._page(send, 413, "the form is larger than the console accepts")
                return
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            scope[FORM] = form
            if not explicit and (fresh or not hmac.compare_digest(form.get("csrf", ""), csrf)):
                await self._page(
                    send,
                    403,
                    "this form was not sent from the console's own page (its CSRF token is "
                    "missing or stale); reload the page and try again",
                )
                return
            receive = _replay(body)
        secure = scope.get("scheme") == "https"
        set_csrf = cookie_header(CSRF, csrf, max_age=None, secure=secure) if fresh else None
        await self.app(scope, receive, self._sender(scope, send, set_csrf, bool(token)))

    def _sender(self, scope: dict[str, Any], send: Any, set_csrf: bytes | None, had: bool) -> Any:
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                kind = dict(message.get("headers", [])).get(b"content-type", b"")
                if status >= 400 and kind.startswith(b"application/json"):
                    held["start"] = message
                    return
                if set_csrf is not None:
                    message = {
                        **message,
                        "headers": [*message.get("headers", []), (b"set-cookie", set_csrf)],
                    }
                await send(message)
                return
            if message["type"] == "http.response.body" and "start" in held:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                await self._refusal(scope, send, held["start"]["status"], b"".join(chunks), had)
                return
            await send(message)

        return wrapped

    async def _refusal(
        self, scope: dict[str, Any], send: Any, status: int, body: bytes, had_session: bool
    ) -> None:
        try:
            message = str(orjson.loads(body)["error"]["message"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            message = "the request was refused"
        extra: list[tuple[bytes, bytes]] = []
        if had_session and status == 401:
            # The token expired or was revoked: forget it.
            extra.append((b"set-cookie", cookie_header(SESSION, "", max_age=0, secure=False)))
        if status == 401 and scope["method"] in ("GET", "HEAD"):
            target = scope["path"]
            if scope.get("query_string"):
                target += "?" + scope["query_string"].decode("latin-1")
            location = f"{PREFIX}/login?next={quote(target, safe='')}"
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [(b"location", location.encode("latin-1")), *extra],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await self._page(send, status, message, extra)

    async def _page(
        self,
        send: Any,
        status: int,
        message: str,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        content: bytes = self.render_error(status, message)
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", b"%d" % len(content)),
            *(extra or []),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


async def _read_body(receive: Any) -> bytes | None:
    """The whole request body, or ``None`` past ``MAX_FORM`` bytes."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM:
            return None
        parts.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(parts)


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
