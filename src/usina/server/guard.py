"""The server's access check, once for every route: ``install(app, gate)``.

FastAPI routes (every router's, and any added later) get ``check`` as an app-wide dependency,
run after routing and before the route's own parameters; plain ASGI routes (the inference
protocols, static files, the OpenAPI document) are wrapped in ``GatedApp``, and so is any
such route added after ``install`` (on the first request that sees it). Both leave the
verdict in the scope, where the audit middleware reads it.

Two rules need what only the server knows, so they are settled here, around the gate:

- run routes act on an experiment their path does not name (``ROUTES``' ``experiment``
  parameter): it is read from the run (its id in the path), the run list's ``experiment``
  query parameter, or a new run's body. A run the caller may not see answers 404 naming the
  run, never its experiment; so does a run that does not exist, for a caller without the
  permission on the workspace, so ids cannot be probed.
- request-log files (``LOG_PREFIXES``) need ``usina.logs.read`` besides the artifact route's
  own permission.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount, Route

from usina.errors import NotFound, PermissionDenied, Unauthenticated, UsinaError
from usina.identity.gate import VERDICT, Gate, GatedApp, Verdict, authorization, declared
from usina.identity.permissions import (
    DATA_READ,
    EXPERIMENT_PARAM,
    LOG_PREFIXES,
    ROUTES,
)
from usina.store import Database
from usina.store import schema as t

NEW_RUN = ("POST", "/api/v1/runs")
LOGS_READ = "usina.logs.read"
_ARTIFACT_READS = {
    ("GET", "/api/v1/artifacts/{key:path}"),
    ("HEAD", "/api/v1/artifacts/{key:path}"),
}


async def check(request: Request) -> None:
    """Refuse the request unless the gate allows its route (the app-wide dependency)."""
    gate: Gate = request.app.state.gate
    route = request.scope.get("route")
    template = str(getattr(route, "path", request.url.path))
    body: Any = None
    if gate.auth and declared(request.method, template) == NEW_RUN:
        # FastAPI has read the body already; this reads what it kept.
        try:
            body = await request.json() if await request.body() else None
        except ValueError:
            body = None  # not JSON: the route refuses it once the caller is let through
    verdict = await run_in_threadpool(_decide, request, gate, template, body)
    request.scope[VERDICT] = verdict
    if verdict.status:
        raise _error(verdict.status, verdict.message)
    if verdict.caller is not None:
        request.state.caller = verdict.caller


def _decide(request: Request, gate: Gate, template: str, body: Any) -> Verdict:
    key = declared(request.method, template)
    params: Mapping[str, Any] = request.path_params
    rule = ROUTES.get(key)
    on_runs = rule is not None and rule.param == EXPERIMENT_PARAM
    run_id: str | None = params.get("run_id") if on_runs else None
    if gate.auth and on_runs:
        experiment = _experiment(request, key, run_id, body)
        if experiment is not None:
            params = {**params, EXPERIMENT_PARAM: experiment}
    verdict = gate.check(request.method, template, params, authorization(request.scope))
    if verdict.status == 404 and run_id is not None:
        # The guard's 404 would name the run's experiment; name only what the caller sent.
        return verdict._replace(message=f"run {run_id} was not found")
    if not verdict.status and key in _ARTIFACT_READS:
        return _logs_check(verdict, str(params.get("key", "")))
    return verdict


def _experiment(
    request: Request, key: tuple[str, str], run_id: str | None, body: Any
) -> str | None:
    """The experiment a run route acts on; ``""`` for a run that does not exist (no binding
    names it, so only the workspace reaches it); ``None`` when the request names none."""
    if run_id is not None:
        db: Database = request.app.state.backends.db
        return _experiment_of(db, run_id) or ""
    if key == NEW_RUN:
        if not isinstance(body, dict):
            return None
        # A new run without one goes to the experiment ``default``, as the route does.
        named = body.get("experiment", "default")
        return named if isinstance(named, str) else None
    return request.query_params.get(EXPERIMENT_PARAM)


def _experiment_of(db: Database, run_id: str) -> str | None:
    e, r = t.experiments, t.runs
    with db.read() as conn:
        found = conn.execute(
            sa.select(e.c.name).join(r, r.c.experiment_id == e.c.id).where(r.c.id == run_id)
        ).scalar()
    return None if found is None else str(found)


def is_log_key(key: str) -> bool:
    """Whether ``key`` is a request-log file (its rows hold request inputs)."""
    return any(key.startswith(prefix) for prefix in LOG_PREFIXES)


def _logs_check(verdict: Verdict, key: str) -> Verdict:
    caller = verdict.caller
    if caller is None or not is_log_key(key) or caller.allows(LOGS_READ):
        return verdict
    return Verdict(
        403,
        caller,
        LOGS_READ,
        "",
        DATA_READ,
        "permission_denied",
        f"{caller.principal} may not read request-log files: they need {LOGS_READ}; ask an "
        "admin for a role that has it ('usina roles list')",
    )


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
