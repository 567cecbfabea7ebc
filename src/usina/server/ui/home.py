"""The console's front door: the overview, logging in and out, and its two static files."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from usina.audit.trail import RESOURCE_NOTE
from usina.errors import NotFound, UsinaError
from usina.identity import SqlIdentityStore
from usina.monitoring.sql import SqlAlertStore
from usina.server.deps import backends, endpoints, pipelines, registry, tracking
from usina.server.ui.policies import newest_events
from usina.server.ui.render import may, page
from usina.server.ui.session import FORM, SESSION, cookie_header

router = APIRouter(prefix="/ui", include_in_schema=False)
STATIC = Path(__file__).parent / "static"
_STATIC_FILES = {"ui.css": "text/css", "ui.js": "text/javascript"}


@router.get("")
def overview(request: Request) -> Response:
    """Models, endpoints, recent runs and pipeline runs, open alerts and the loops' recent
    decisions: what the viewer may see of each."""
    context: dict[str, object] = {}
    if may(request, "usina.models.read"):
        context["models"] = registry(request, "anonymous").list_models(limit=20)
    if may(request, "usina.endpoints.read"):
        context["endpoints"] = endpoints(request, "anonymous").list(limit=20)
    if may(request, "usina.runs.read"):
        context["runs"] = tracking(request, "anonymous").list_runs(limit=10)
    if may(request, "usina.pipelines.read"):
        context["pipeline_runs"] = pipelines(request, "anonymous").list_runs(limit=5)
    if may(request, "usina.alerts.read"):
        context["alerts"] = SqlAlertStore(backends(request).db).list(state="firing", limit=20)
    if may(request, "usina.policies.read"):
        context["decisions"] = newest_events(backends(request).db, limit=10)
    return page(request, "overview.html", "Overview", context, section="overview")


@router.get("/login")
def login_page(request: Request, next: str = "/ui") -> Response:
    """The login form (with authentication off there is nothing to log into)."""
    if not request.app.state.gate.auth:
        return RedirectResponse(_safe_next(next), status_code=303)
    return page(request, "login.html", "Log in", {"next": _safe_next(next), "error": None})


@router.post("/login")
def login(request: Request) -> Response:
    """Check the user and password; on success keep the issued token in the session cookie."""
    form: dict[str, str] = request.scope.get(FORM, {})
    user, password = form.get("user", "").strip(), form.get("password", "")
    target = _safe_next(form.get("next", "/ui"))
    if not request.app.state.gate.auth:
        return RedirectResponse(target, status_code=303)
    request.scope[RESOURCE_NOTE] = f"users/{user.removeprefix('user:')}"
    store = SqlIdentityStore(
        backends(request).db, user or "anonymous", token_max_days=request.app.state.token_max_days
    )
    try:
        if not user:
            raise NotFound("enter your user name", field="user")
        issued = store.login(user, password)
    except UsinaError as exc:
        context = {"next": target, "error": exc.message, "user": user}
        return page(request, "login.html", "Log in", context, status=401)
    response = RedirectResponse(target, status_code=303)
    max_age = max(int(issued.token.expires_at - time.time()), 1)
    response.headers.append(
        "set-cookie",
        cookie_header(
            SESSION, issued.secret, max_age=max_age, secure=request.url.scheme == "https"
        ).decode("latin-1"),
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """Revoke the session's token and forget it."""
    caller = getattr(request.state, "caller", None)
    if caller is None and request.app.state.gate.auth:
        # A public route: the gate verified nobody; find the session's holder here.
        try:
            caller = request.app.state.verifier.verify(_session_token(request))
        except UsinaError:
            caller = None
    if caller is not None:
        store = SqlIdentityStore(backends(request).db, caller.name)
        # Already revoked or expired: forgetting the cookie is all that is left.
        with contextlib.suppress(UsinaError):
            store.revoke_token(caller.token_id)
    response = RedirectResponse("/ui/login" if request.app.state.gate.auth else "/ui", 303)
    response.headers.append(
        "set-cookie", cookie_header(SESSION, "", max_age=0, secure=False).decode("latin-1")
    )
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The console's stylesheet and script, from the installed package (no CDN)."""
    kind = _STATIC_FILES.get(name)
    if kind is None:
        raise NotFound(f"no console file {name!r}")
    return FileResponse(STATIC / name, media_type=kind, headers={"cache-control": "max-age=300"})


def _session_token(request: Request) -> str:
    return request.cookies.get(SESSION, "")


def _safe_next(target: str) -> str:
    """Only console paths: a login link must not send anyone elsewhere."""
    if target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui"
