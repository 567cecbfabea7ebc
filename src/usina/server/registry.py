"""Routes for the model registry: ``/api/v1/models``, versions, aliases, history, lineage."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request

from usina.errors import NotFound
from usina.identity import Caller
from usina.registry import ModelRef, Signature
from usina.registry.signature import Column
from usina.server import schemas as s
from usina.server.deps import MAX_PAGE, actor, next_offset, registry, tracking

router = APIRouter(prefix="/api/v1", tags=["registry"])

NAME = Path(max_length=128, description="The registered model's name.")
ALIAS = Path(max_length=64, description="An alias, for example champion.")
VERSION = Path(ge=1, le=2**31 - 1)


@router.get("/models", response_model=s.Page[s.ModelOut])
def list_models(
    request: Request,
    name: str | None = Query(None, max_length=128, description="Only names containing this."),
    alias: str | None = Query(None, max_length=64, description="Only models holding this alias."),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[s.ModelOut]:
    """Registered models by name, with their latest version and aliases."""
    found = registry(request, "anonymous").list_models(
        name=name, alias=alias, limit=limit, offset=offset
    )
    items = [s.ModelOut(**m.__dict__) for m in found]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.get("/models/{name}", response_model=s.ModelOut)
def get_model(request: Request, name: str = NAME) -> s.ModelOut:
    """One registered model."""
    return s.ModelOut(**registry(request, "anonymous").get_model(name).__dict__)


@router.post("/models/{name}/versions", status_code=201, response_model=s.VersionOut)
def create_version(
    request: Request, body: s.VersionIn, name: str = NAME, who: str = Depends(actor)
) -> s.VersionOut:
    """Register the next version of ``name`` (upload its blob first; 404 naming ``digest`` if
    it is not there, or ``run_id`` if the run is missing or its caller may not read it); the
    model is created on first use."""
    if body.run_id is not None:
        _require_readable_run(request, body.run_id)
    signature = Signature(tuple(Column(c.name, c.dtype) for c in body.signature.inputs))
    version = registry(request, who).create_version(
        name,
        digest=body.digest,
        size=body.size,
        format=body.format,
        model_class=body.model_class,
        signature=signature,
        metrics=body.metrics,
        run_id=body.run_id,
        description=body.description,
    )
    return s.version_out(version)


@router.get("/models/{name}/versions", response_model=s.Page[s.VersionOut])
def list_versions(
    request: Request,
    name: str = NAME,
    alias: str | None = Query(
        None, max_length=64, description="Only the version holding this alias."
    ),
    since: float | None = Query(None, description="Created at or after (seconds since the epoch)."),
    until: float | None = Query(None, description="Created before (seconds since the epoch)."),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[s.VersionOut]:
    """The versions of a model, newest first."""
    found = registry(request, "anonymous").list_versions(
        name, alias=alias, since=since, until=until, limit=limit, offset=offset
    )
    items = [s.version_out(v) for v in found]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.get("/models/{name}/latest", response_model=s.VersionOut)
def latest_version(request: Request, name: str = NAME) -> s.VersionOut:
    """The newest version of a model."""
    return s.version_out(registry(request, "anonymous").resolve(ModelRef(name)))


@router.get("/models/{name}/versions/{version}", response_model=s.VersionOut)
def get_version(request: Request, name: str = NAME, version: int = VERSION) -> s.VersionOut:
    """One version."""
    return s.version_out(registry(request, "anonymous").resolve(ModelRef(name, version=version)))


@router.get("/models/{name}/versions/{version}/lineage", response_model=s.LineageOut)
def lineage(request: Request, name: str = NAME, version: int = VERSION) -> s.LineageOut:
    """A version with the run that produced it (params, metrics, input datasets); the run is
    left out (null) for a caller who may not read runs of its experiment."""
    found = registry(request, "anonymous").resolve(ModelRef(name, version=version))
    run = tracking(request, "anonymous").get_run(found.run_id) if found.run_id else None
    caller = getattr(request.state, "caller", None)
    if run is not None and not _may_read_run(caller, run.experiment):
        run = None
    return s.LineageOut(version=s.version_out(found), run=s.run_out(run) if run else None)


def _require_readable_run(request: Request, run_id: str) -> None:
    """Refuse, as a missing run, a run whose experiment the caller may not read: a version
    would otherwise link to it, and its answer tell whether it exists."""
    caller = getattr(request.state, "caller", None)
    if caller is None:
        return
    try:
        experiment = tracking(request, "anonymous").get_run(run_id).experiment
    except NotFound:
        return  # the registry answers for a missing run
    if not _may_read_run(caller, experiment):
        raise NotFound(f"no run with id {run_id!r}; see 'usina runs list'", field="run_id")


def _may_read_run(caller: Caller | None, experiment: str) -> bool:
    """With authentication on, whether ``caller`` may read runs of ``experiment``."""
    return caller is None or caller.allows("usina.runs.read", f"experiments/{experiment}")


@router.get("/models/{name}/aliases/{alias}", response_model=s.VersionOut)
def get_alias(request: Request, name: str = NAME, alias: str = ALIAS) -> s.VersionOut:
    """The version an alias points at."""
    return s.version_out(registry(request, "anonymous").resolve(ModelRef(name, alias=alias)))


@router.put("/models/{name}/aliases/{alias}", response_model=s.AliasChangeOut)
def set_alias(
    request: Request,
    body: s.AliasIn,
    name: str = NAME,
    alias: str = ALIAS,
    who: str = Depends(actor),
) -> s.AliasChangeOut:
    """Point an alias at a version; the move is kept in the history."""
    change = registry(request, who).set_alias(name, alias, body.version, body.reason)
    return s.AliasChangeOut(**change.__dict__)


@router.delete("/models/{name}/aliases/{alias}", response_model=s.AliasChangeOut)
def delete_alias(
    request: Request,
    name: str = NAME,
    alias: str = ALIAS,
    reason: str = Query("", max_length=s.MAX_TEXT),
    who: str = Depends(actor),
) -> s.AliasChangeOut:
    """Remove an alias; the removal is kept in the history."""
    return s.AliasChangeOut(**registry(request, who).delete_alias(name, alias, reason).__dict__)


@router.post("/models/{name}/aliases/{alias}/rollback", response_model=s.AliasChangeOut)
def rollback(
    request: Request,
    body: s.ReasonIn,
    name: str = NAME,
    alias: str = ALIAS,
    who: str = Depends(actor),
) -> s.AliasChangeOut:
    """Move an alias back to the version it held before its current one."""
    return s.AliasChangeOut(**registry(request, who).rollback(name, alias, body.reason).__dict__)


@router.get("/models/{name}/history", response_model=s.Items[s.AliasChangeOut])
def alias_history(
    request: Request,
    name: str = NAME,
    alias: str | None = Query(None, max_length=64, description="Only this alias."),
) -> s.Items[s.AliasChangeOut]:
    """Every move of the model's aliases, oldest first."""
    changes = registry(request, "anonymous").alias_history(name, alias)
    return s.Items(items=[s.AliasChangeOut(**c.__dict__) for c in changes])
