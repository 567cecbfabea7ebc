"""Model pages: the list, and one model with its versions, metrics, signature, lineage, alias
history, a rollback button and two versions side by side."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from usina.errors import NotFound
from usina.registry import ModelRef, ModelVersion
from usina.server.deps import actor, registry, tracking
from usina.server.ui.policies import policy_of_reason
from usina.server.ui.render import may, page
from usina.server.ui.session import FORM

router = APIRouter(prefix="/ui", include_in_schema=False)
NAME = Path(max_length=128)
PAGE = 50


@router.get("/models")
def models(
    request: Request,
    q: str | None = Query(None, max_length=128),
    offset: int = Query(0, ge=0, le=2**31),
) -> Response:
    """Registered models, their latest version and aliases."""
    found = registry(request, "anonymous").list_models(name=q or None, limit=PAGE, offset=offset)
    context = {"models": found, "q": q or "", "offset": offset, "more": len(found) == PAGE}
    return page(request, "models.html", "Models", context, section="models")


@router.get("/models/{name}")
def model(
    request: Request,
    name: str = NAME,
    a: int | None = Query(None, ge=1, le=2**31 - 1, description="A version to compare."),
    b: int | None = Query(None, ge=1, le=2**31 - 1, description="The other version."),
    offset: int = Query(0, ge=0, le=2**31),
) -> Response:
    """One model."""
    store = registry(request, "anonymous")
    found = store.get_model(name)
    versions = store.list_versions(name, limit=PAGE, offset=offset)
    history = store.alias_history(name)
    # Two versions side by side: those asked for, else the champion (or newest) and the
    # version before it.
    if a is None:
        a = found.aliases.get("champion", found.latest_version)
    if b is None:
        b = found.latest_version if a != found.latest_version else max(a - 1, 1)
    pair = [_version(store, name, a), _version(store, name, b)]
    compared = _compare(pair[0], pair[1]) if pair[0] and pair[1] else None
    lineage = _lineage(request, pair[0]) if pair[0] else None
    previous = {alias: _previous(history, alias) for alias in found.aliases}
    shown = list(reversed(history))[:100]
    # A move made by a policy's loop links to that policy's decisions.
    readable = may(request, "usina.policies.read")
    loops = [policy_of_reason(c.reason) if readable else None for c in shown]
    context: dict[str, Any] = {
        "model": found,
        "versions": versions,
        "history": shown,
        "loops": loops,
        "history_total": len(history),
        "pair": pair,
        "compared": compared,
        "lineage": lineage,
        "previous": previous,
        "can_deploy": may(request, "usina.models.deploy", f"models/{name}"),
        "offset": offset,
        "more": len(versions) == PAGE,
        "moved": request.query_params.get("moved"),
    }
    return page(request, "model.html", f"Model {name}", context, section="models")


@router.post("/models/{name}/aliases/{alias}/rollback")
def rollback(request: Request, name: str = NAME, alias: str = Path(max_length=64)) -> Response:
    """Move the alias back to the version it held before (needs usina.models.deploy: the
    access check refuses, and the audit log records, anyone else)."""
    form: dict[str, str] = request.scope.get(FORM, {})
    reason = form.get("reason", "").strip()[:500] or "rolled back from the console"
    change = registry(request, actor(request, None)).rollback(name, alias, reason)
    target = f"/ui/models/{quote(name)}?moved={quote(alias)}-v{change.to_version}#history"
    return RedirectResponse(target, status_code=303)


def _version(store: Any, name: str, number: int) -> ModelVersion | None:
    try:
        found: ModelVersion = store.resolve(ModelRef(name, version=number))
    except NotFound:
        return None
    return found


def _previous(history: list[Any], alias: str) -> int | None:
    """The version a rollback of ``alias`` would move it to (``None``: nothing to go back to)."""
    moves = [c for c in history if c.alias == alias]
    if not moves:
        return None
    return moves[-1].from_version


def _compare(left: ModelVersion, right: ModelVersion) -> dict[str, Any]:
    keys = sorted(set(left.metrics) | set(right.metrics))
    metrics = [(k, left.metrics.get(k), right.metrics.get(k)) for k in keys]
    lcols = {c.name: c.dtype for c in left.signature.inputs}
    rcols = {c.name: c.dtype for c in right.signature.inputs}
    names = [c.name for c in left.signature.inputs] + [
        c.name for c in right.signature.inputs if c.name not in lcols
    ]
    columns = [(n, lcols.get(n), rcols.get(n)) for n in names]
    return {"metrics": metrics, "columns": columns}


def _lineage(request: Request, version: ModelVersion) -> dict[str, Any]:
    """The run that produced ``version``, if the viewer may read its experiment."""
    if not version.run_id:
        return {"run": None, "hidden": False}
    try:
        run = tracking(request, "anonymous").get_run(version.run_id)
    except NotFound:
        return {"run": None, "hidden": False}
    if not may(request, "usina.runs.read", f"experiments/{run.experiment}"):
        return {"run": None, "hidden": True}
    return {"run": run, "hidden": False}
