"""``install(app)``: the web console under ``/ui`` of ``usina server``.

Each page family is a router module (``PAGES``); each route's permission is declared in
``usina.identity.permissions.ROUTES`` like any REST route, so the server's one access check
allows, refuses and audits pages and console actions exactly as it does the API.
"""

from __future__ import annotations

from fastapi import FastAPI

from usina.server.ui import endpoints, home, models, monitoring, policies, records, runs
from usina.server.ui.render import error_page
from usina.server.ui.session import ConsoleSession

PAGES = (home, models, endpoints, runs, monitoring, policies, records)


def install(app: FastAPI) -> None:
    """Add the console's routes and its session middleware to ``app`` (call before the
    access-check and audit middleware are added, so they run outside it)."""
    for module in PAGES:
        app.include_router(module.router)
    app.add_middleware(ConsoleSession, render_error=error_page)
