"""The routes an ASGI app answers, as the permission tables of ``usina.identity`` key them."""

from __future__ import annotations

from typing import Any

from usina.identity.gate import declared


def app_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path template) of every route ``app`` answers, FastAPI's included routers
    among them; a ``HEAD`` answered as its ``GET`` is keyed as that ``GET``."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        # FastAPI 0.16x keeps an included router as one entry listing its routes.
        nested = getattr(route, "effective_candidates", None)
        entries = nested() if callable(nested) else [route]
        for entry in entries:
            path = getattr(entry, "path", None)
            if path is None:
                continue
            methods = getattr(entry, "methods", None) or {"GET"}  # a mount: static files
            found |= {declared(m, path) for m in methods}
    return found
