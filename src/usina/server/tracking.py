"""Routes for experiments and runs: ``/api/v1/experiments``, ``/api/v1/runs``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from usina.artifacts import blob_key, check_key
from usina.errors import InvalidInput, NotFound
from usina.server import schemas as s
from usina.server.deps import MAX_PAGE, actor, backends, next_offset, tracking
from usina.tracking.checks import check_final_status, metric

router = APIRouter(prefix="/api/v1", tags=["tracking"])
CHUNK = 1 << 20


def _tags(values: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"tag filter {item!r} is not KEY=VALUE", field="tag")
        tags[key] = value
    return tags


@router.get("/experiments", response_model=s.Page[s.ExperimentOut])
def list_experiments(
    request: Request,
    name: str | None = Query(None, max_length=256, description="Only names containing this."),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[s.ExperimentOut]:
    """Experiments by name, with their run counts."""
    found = tracking(request, "anonymous").list_experiments(name=name, limit=limit, offset=offset)
    items = [s.ExperimentOut(**e.__dict__) for e in found]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.post("/runs", status_code=201, response_model=s.RunOut)
def create_run(request: Request, body: s.RunIn, who: str = Depends(actor)) -> s.RunOut:
    """Start a run (the experiment is created on first use)."""
    return s.run_out(
        tracking(request, who).create_run(body.experiment, body.name, body.params, body.tags)
    )


@router.get("/runs", response_model=s.Page[s.RunOut])
def list_runs(
    request: Request,
    experiment: str | None = Query(None, max_length=256),
    status: str | None = Query(None, description="running, finished, failed or killed."),
    name: str | None = Query(None, max_length=256, description="Only names containing this."),
    tag: list[str] | None = Query(None, description="KEY=VALUE; repeat to require several."),
    since: float | None = Query(None, description="Started at or after (seconds since the epoch)."),
    until: float | None = Query(None, description="Started before (seconds since the epoch)."),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[s.RunOut]:
    """Runs, newest first."""
    runs = tracking(request, "anonymous").list_runs(
        experiment,
        status,
        limit,
        offset=offset,
        name=name,
        tags=_tags(tag or []),
        since=since,
        until=until,
    )
    items = [s.run_out(r) for r in runs]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.get("/runs/{run_id}", response_model=s.RunOut)
def get_run(request: Request, run_id: str) -> s.RunOut:
    """One run with its params, latest metrics, tags, artifacts and inputs."""
    return s.run_out(tracking(request, "anonymous").get_run(run_id))


@router.post("/runs/{run_id}/batch", status_code=204)
def log_batch(
    request: Request, run_id: str, body: s.BatchIn, who: str = Depends(actor)
) -> Response:
    """Record metrics, params and tags in one transaction."""
    metrics = [metric(m.key, m.value, m.step, m.timestamp) for m in body.metrics]
    tracking(request, who).log_batch(run_id, metrics=metrics, params=body.params, tags=body.tags)
    return Response(status_code=204)


@router.post("/runs/{run_id}/artifacts", status_code=204)
def log_artifact(
    request: Request, run_id: str, body: s.ArtifactIn, who: str = Depends(actor)
) -> Response:
    """Record that ``path`` of the run holds the blob ``digest`` (upload the blob first;
    404 naming ``digest`` if it is not there)."""
    tracking(request, who).log_artifact(run_id, body.path, body.digest, body.size)
    return Response(status_code=204)


@router.get(
    "/runs/{run_id}/artifacts/{path:path}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_run_artifact(request: Request, run_id: str, path: str) -> StreamingResponse:
    """The bytes of one artifact of a run, by its path in the run."""
    check_key(path)
    run = tracking(request, "anonymous").get_run(run_id)
    found = next((a for a in run.artifacts if a.path == path), None)
    if found is None:
        raise NotFound(f"run {run.id} has no artifact {path!r}", field="path")
    stream = backends(request).artifacts.open(blob_key(found.digest))
    return StreamingResponse(
        iterate_in_threadpool(_chunks(stream)),
        media_type="application/octet-stream",
        headers={"content-length": str(found.size), "x-usina-sha256": found.digest},
    )


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := stream.read(CHUNK):
            yield chunk
    finally:
        stream.close()


@router.post("/runs/{run_id}/inputs", status_code=204)
def log_input(
    request: Request, run_id: str, body: s.InputIn, who: str = Depends(actor)
) -> Response:
    """Record a dataset the run read, by name and content digest."""
    tracking(request, who).log_input(run_id, body.name, body.digest, body.rows)
    return Response(status_code=204)


@router.post("/runs/{run_id}/heartbeat", status_code=204)
def heartbeat(request: Request, run_id: str) -> Response:
    """Mark a running run alive (404 if there is no such run)."""
    tracking(request, "anonymous").heartbeat(run_id)
    return Response(status_code=204)


@router.post("/runs/{run_id}/end", status_code=204)
def end_run(request: Request, run_id: str, body: s.EndIn, who: str = Depends(actor)) -> Response:
    """Close a running run with its final status (400 unless finished, failed or killed)."""
    tracking(request, who).end_run(run_id, check_final_status(body.status))
    return Response(status_code=204)


@router.get("/runs/{run_id}/metrics/{key:path}", response_model=s.Items[s.MetricOut])
def metric_history(request: Request, run_id: str, key: str) -> s.Items[s.MetricOut]:
    """Every logged value of one metric, by step."""
    history = tracking(request, "anonymous").metric_history(run_id, key)
    return s.Items(items=[s.MetricOut(**m.__dict__) for m in history])
