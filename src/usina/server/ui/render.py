"""Pages from Jinja2 templates, and what every page needs: who is looking, what they may do,
the navigation, and the formatting of times, numbers and durations."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from usina import __version__
from usina.server.ui.nav import visible_sections
from usina.server.ui.session import CSRF_VALUE

TEMPLATES = Path(__file__).parent / "templates"
DASH = "\u2013"  # shown for a missing value


def when(epoch: float | None) -> Markup | str:
    """An epoch time as a ``<time>`` element showing ``YYYY-MM-DD HH:MM:SS`` UTC; a dash for
    none."""
    if epoch is None:
        return DASH
    moment = datetime.fromtimestamp(epoch, UTC)
    shown = moment.strftime("%Y-%m-%d %H:%M:%S")
    return Markup(f'<time datetime="{moment.isoformat()}">{shown}</time>')


def num(value: Any) -> str:
    """A number short enough for a table cell."""
    if value is None:
        return DASH
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4g}"


def seconds(value: float | None) -> str:
    """A duration: ``0.42 s``, ``3 min 5 s``."""
    if value is None:
        return DASH
    if value < 60:
        return f"{value:.2f} s"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if value >= size and value % size == 0:
            return f"{int(value // size)} {unit}"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes} min {rest} s"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["num"] = num
    env.filters["seconds"] = seconds
    env.filters["short"] = lambda text, n=12: str(text)[:n]
    env.globals["version"] = __version__
    return env


ENV = _environment()


def may(request: Request, permission: str, resource: str | None = None) -> bool:
    """Whether the viewer may use ``permission`` (on ``resource``): with authentication off
    everyone may; the server checks again when the action is sent."""
    if not request.app.state.gate.auth:
        return True
    caller = getattr(request.state, "caller", None)
    return caller is not None and bool(caller.allows(permission, resource))


def viewer(request: Request) -> str | None:
    """Who is logged in (``user:alice``); ``None`` with authentication off."""
    caller = getattr(request.state, "caller", None)
    return None if caller is None else str(caller.principal)


def page(
    request: Request,
    template: str,
    title: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    section: str = "",
) -> HTMLResponse:
    """The page ``template`` rendered for ``request``'s viewer."""
    started = time.perf_counter()
    html = ENV.get_template(template).render(
        title=title,
        section=section,
        auth=request.app.state.gate.auth,
        viewer=viewer(request),
        sections=visible_sections(lambda p: may(request, p)),
        csrf=request.scope.get(CSRF_VALUE, ""),
        path=request.url.path,
        **(context or {}),
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["server-timing"] = f"render;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


def error_page(status: int, message: str) -> bytes:
    """The console's page for a refused or failed request."""
    titles = {
        401: "Log in to continue",
        403: "Not allowed",
        404: "Not found",
        413: "Too large",
        409: "Conflict",
        422: "Not understood",
        500: "Server error",
        503: "Unavailable",
    }
    html = ENV.get_template("error.html").render(
        title=titles.get(status, "Error"),
        status=status,
        message=message,
        section="",
        auth=False,
        viewer=None,
        sections=[],
        csrf="",
        path="",
    )
    return html.encode("utf-8")
