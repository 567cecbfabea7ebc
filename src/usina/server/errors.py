"""Every error the API returns, in one shape: ``{"error": {"code", "message", "field"}}``.

Statuses come from :data:`usina.errors.HTTP_STATUS`, the one map of usina's exceptions to HTTP
statuses, which the inference protocols use too. Anything not listed there that escapes a route
is a bug: it is logged with its traceback and answered with a 500 that says so, without leaking
internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from usina import errors

log = logging.getLogger("usina.server")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    """The JSON error answer."""
    return JSONResponse(
        {"error": {"code": code, "message": message, "field": field}}, status_code=status
    )


async def _usina_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.UsinaError)
    status = errors.http_status(exc)
    if status >= 500:
        log.error("%s: %s", type(exc).__name__, exc)
    return error_response(status, exc.code, exc.message, exc.field)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
    field = _field(tuple(first.get("loc", ())))
    if first.get("type") == "json_invalid":
        field = "body"  # its location is a character offset, not a field
    message = f"{field}: {first.get('msg', 'invalid value')}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    return error_response(422, "invalid_input", message, field)


async def _data_error(_request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value the checks let through (PostgreSQL text cannot hold NUL
    # characters, for one): the caller's input, so a 400, never a 500.
    first_line = (str(getattr(exc, "orig", exc)).strip().splitlines() or ["invalid value"])[0]
    return error_response(
        400, "invalid_input", f"the database cannot store a value in this request: {first_line}"
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(
        exc.status_code, "invalid_input" if exc.status_code < 500 else "internal"
    )
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404 and detail == "Not Found":
        detail = "no such route; see /docs for the API"
    response = error_response(exc.status_code, code, detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


class CatchAll:
    """Answer an unexpected exception with the JSON 500 and keep the connection.

    Starlette's outermost handler would answer too, then re-raise, and the server would drop the
    client's keep-alive connection; here the error is logged and ends with the answer.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            if started:
                raise  # half an answer went out: only dropping the connection tells the client
            response = error_response(
                500,
                "internal",
                "the server failed unexpectedly; this is a bug: the server log has details",
            )
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the handlers that give every error its JSON shape (call before other
    middleware is added, so ``CatchAll`` sits innermost, inside the metrics and guards)."""
    app.add_exception_handler(errors.UsinaError, _usina_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(sa_exc.DataError, _data_error)
    app.add_middleware(CatchAll)
