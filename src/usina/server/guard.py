"""The server's access check, once for every route: ``install(app, gate)``.

FastAPI routes (every router's, and any added later) get ``check`` as an app-wide dependency,
run after routing and before the route's own parameters; plain ASGI routes (the inference
protocols, static files, the OpenAPI document) are wrapped in ``GatedApp``, and so is any
such route added after ``install`` (on the first request that sees it). Both leave the
verdict in the scope, where the audit middleware reads it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from usina.errors import NotFound, PermissionDenied, Unauthenticated, UsinaError
from usina.identity.gate import VERDICT, Gate, GatedApp, authorization


def check(request: Request) -> None:
    """Refuse the request unless the gate allows its route (the app-wide dependency)."""
    gate: Gate = request.app.state.gate
    route = request.scope.get("route")
    template = str(getattr(route, "path", request.url.path))
    verdict = gate.check(
        request.method, template, request.path_params, authorization(request.scope)
    )
    request.scope[VERDICT] = verdict
    if verdict.status:
        raise _error(verdict.status, verdict.message)
    if verdict.caller is not None:
        request.state.caller = verdict.caller


def _error(status: int, message: str) -> UsinaError:
    if status == 401:
        return Unauthenticated(message)
    if status == 404:
        return NotFound(message)
    return PermissionDenied(message)


class GuardRoutes:
    """ASGI middleware: before a request is routed, make sure every plain route of ``app`` is
    wrapped in ``GatedApp`` (a length check per request; wrapping happens once per route)."""

    def __init__(self, app: Any, fastapi_app: FastAPI, gate: Gate) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.gate = gate
        self._seen = -1

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        routes = self.fastapi_app.router.routes
        if len(routes) != self._seen:
            gate_routes(routes, self.gate)
            self._seen = len(routes)
        await self.app(scope, receive, send)


def gate_routes(routes: list[Any], gate: Gate) -> None:
    """Wrap each plain route in ``routes`` (not yet wrapped) in ``GatedApp``. FastAPI routes
    are left to the app-wide dependency; a route that checks itself (a predict route of a
    service with a gate) says so with ``checks_access``."""
    for route in routes:
        if isinstance(route, APIRoute) or not isinstance(route, Route | Mount):
            continue
        if isinstance(route.app, GatedApp) or getattr(route.app, "checks_access", False):
            continue
        route.app = GatedApp(route.app, gate, route.path)
