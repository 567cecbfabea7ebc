"""Routes for pipeline runs and step runs: ``/api/v1/pipeline-runs``, ``/api/v1/step-runs``,
``/api/v1/artifact-use``. A runner on another machine records its runs through them; the
steps themselves execute where the runner is."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response

from usina.server import pipeline_schemas as ps
from usina.server import schemas as s
from usina.server.deps import MAX_PAGE, actor, next_offset, pipelines

router = APIRouter(prefix="/api/v1", tags=["pipelines"])


@router.post("/pipeline-runs", status_code=201, response_model=ps.PipelineRunOut)
def create_pipeline_run(
    request: Request, body: ps.PipelineRunIn, who: str = Depends(actor)
) -> ps.PipelineRunOut:
    """Start a pipeline run under the id of its tracking run (409 if taken, unless
    ``exist_ok``)."""
    run = pipelines(request, who).create_run(
        body.id,
        body.pipeline,
        body.ref,
        body.params,
        body.trigger,
        body.resumed_from,
        exist_ok=body.exist_ok,
    )
    return ps.run_out(run)


@router.get("/pipeline-runs", response_model=s.Page[ps.PipelineRunOut])
def list_pipeline_runs(
    request: Request,
    pipeline: str | None = Query(None, max_length=256, description="Only runs of this pipeline."),
    trigger_prefix: str | None = Query(
        None, max_length=256, description="Only runs whose trigger starts so (schedule:, kfp:)."
    ),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[ps.PipelineRunOut]:
    """Pipeline runs, newest first, without their steps."""
    found = pipelines(request, "anonymous").list_runs(
        pipeline, trigger_prefix, limit, offset=offset
    )
    items = [ps.run_out(r) for r in found]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.get("/pipeline-runs/{run_id}", response_model=ps.PipelineRunOut)
def get_pipeline_run(request: Request, run_id: str) -> ps.PipelineRunOut:
    """One pipeline run with its step runs (state, attempts, outputs, errors, log digests)."""
    return ps.run_out(pipelines(request, "anonymous").get_run(run_id))


@router.post("/pipeline-runs/{run_id}/end", status_code=204)
def end_pipeline_run(
    request: Request, run_id: str, body: ps.PipelineEndIn, who: str = Depends(actor)
) -> Response:
    """Close a running pipeline run: ``succeeded`` or ``failed``."""
    pipelines(request, who).end_run(run_id, body.status)
    return Response(status_code=204)


@router.post("/step-runs", status_code=204)
def record_step_runs(request: Request, body: ps.StepsIn, who: str = Depends(actor)) -> Response:
    """Insert or replace step runs of one pipeline run, with the artifacts executed steps read
    and wrote (their lineage links)."""
    steps = [m.step_run() for m in body.steps]
    inputs = {k: {n: a.artifact() for n, a in v.items()} for k, v in body.inputs.items()}
    pipelines(request, who).record_steps(steps, inputs)
    return Response(status_code=204)


@router.get("/step-runs", response_model=s.Items[ps.StepRunModel])
def find_cached_step_runs(
    request: Request,
    cache_key: list[str] = Query(
        ..., max_length=100, description="Cache keys; repeat for several (at most 100)."
    ),
) -> s.Items[ps.StepRunModel]:
    """The latest successful execution for each cache key that has one."""
    found = pipelines(request, "anonymous").find_cached(cache_key)
    return s.Items(items=[ps.step_out(x) for x in found.values()])


@router.get("/step-runs/{step_run_id}", response_model=ps.StepRunModel)
def get_step_run(request: Request, step_run_id: str) -> ps.StepRunModel:
    """One step run."""
    return ps.step_out(pipelines(request, "anonymous").get_step(step_run_id))


@router.get("/step-runs/{step_run_id}/links", response_model=s.Items[ps.ArtifactLinkOut])
def step_run_links(request: Request, step_run_id: str) -> s.Items[ps.ArtifactLinkOut]:
    """The artifacts an executed step read (``input``) and wrote (``output``)."""
    links = pipelines(request, "anonymous").step_links(step_run_id)
    return s.Items(items=[ps.ArtifactLinkOut(**x.__dict__) for x in links])


@router.get("/artifact-use/{digest}", response_model=ps.ArtifactUseOut)
def artifact_use(request: Request, digest: str) -> ps.ArtifactUseOut:
    """The step runs that produced the artifact ``digest`` (newest first) and that read it."""
    return ps.use_out(pipelines(request, "anonymous").artifact_use(digest))
