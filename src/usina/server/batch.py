"""Routes of batch jobs: ``GET /api/v1/batch/jobs`` (filtered, paged), ``GET
/api/v1/batch/jobs/{id}``, and the two writes a job running elsewhere makes through the server:
``POST /api/v1/batch/jobs`` (it started, with the version it resolved), ``POST
/api/v1/batch/jobs/{id}/heartbeat`` (it is still alive) and ``POST
/api/v1/batch/jobs/{id}/end`` (how it ended). The job itself runs where it was started; its
output reaches the artifact store through the artifact routes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from usina.batch.entities import BatchJob, JobEnd, JobStart, JobStatus
from usina.batch.sql import SqlBatchJobStore
from usina.server import schemas as s
from usina.server.deps import MAX_PAGE, actor, backends, next_offset

router = APIRouter(prefix="/api/v1", tags=["batch"])

_ID = Path(pattern="^[0-9a-f]{32}$", description="The job's id (32 hex digits).")


class BatchJobOut(BaseModel):
    id: str
    name: str
    model_uri: str = Field(description="What the job was asked to score with.")
    model: str
    version: int = Field(description="The version model_uri pointed at when the job started.")
    input: str
    output: str = Field(description="The table written, under tables/ in the artifact store.")
    partition: dict[str, str]
    status: str = Field(description="running, succeeded or failed.")
    rows_in: int
    rows_out: int
    rows_rejected: int
    started_at: float
    ended_at: float | None
    error: str
    created_by: str
    trigger: str = Field(description="What started it: empty by hand, schedule:NAME@TIME.")
    files: list[str]
    heartbeat_at: float | None = Field(description="When the job's process last beat.")


class JobStartIn(BaseModel):
    id: str = Field(pattern="^[0-9a-f]{32}$")
    name: str = Field(max_length=128)
    model_uri: str = Field(max_length=4096)
    model: str = Field(max_length=128)
    version: int = Field(ge=1, le=2**31)
    input: str = Field(max_length=4096)
    output: str = Field(max_length=128)
    partition: dict[str, str] = Field(default_factory=dict, max_length=16)
    trigger: str = Field("", max_length=512)


class JobEndIn(BaseModel):
    status: str = Field(description="succeeded or failed.", max_length=16)
    rows_in: int = Field(0, ge=0, le=2**62)
    rows_out: int = Field(0, ge=0, le=2**62)
    rows_rejected: int = Field(0, ge=0, le=2**62)
    error: str = Field("", max_length=4000)
    files: list[str] = Field(default_factory=list, max_length=100_000)


def job_out(job: BatchJob) -> BatchJobOut:
    return BatchJobOut(**{**job.__dict__, "status": job.status.value, "files": list(job.files)})


def _store(request: Request, who: str = "local") -> SqlBatchJobStore:
    b = backends(request)
    return SqlBatchJobStore(b.db, actor=who, heartbeat_timeout=b.heartbeat_timeout)


@router.get("/batch/jobs", response_model=s.Page[BatchJobOut])
def list_jobs(
    request: Request,
    name: str | None = Query(None, max_length=128, description="Only this job's runs."),
    status: str | None = Query(None, max_length=16, description="running, succeeded or failed."),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[BatchJobOut]:
    """Batch job runs, newest first."""
    found = _store(request).list(name=name, status=status, limit=limit, offset=offset)
    items = [job_out(j) for j in found]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.get("/batch/jobs/{job_id}", response_model=BatchJobOut)
def get_job(request: Request, job_id: str = _ID) -> BatchJobOut:
    """One batch job run."""
    return job_out(_store(request).get(job_id))


@router.post("/batch/jobs", response_model=BatchJobOut, status_code=201)
def start_job(request: Request, body: JobStartIn, who: str = Depends(actor)) -> BatchJobOut:
    """Record a batch job that starts now, with the version its model URI resolved to."""
    return job_out(_store(request, who).start(JobStart(**body.model_dump())))


@router.post("/batch/jobs/{job_id}/heartbeat", status_code=204)
def heartbeat(request: Request, job_id: str = _ID) -> Response:
    """Mark a running batch job alive; one whose heartbeat goes stale is read as failed."""
    _store(request).heartbeat(job_id)
    return Response(status_code=204)


@router.post("/batch/jobs/{job_id}/end", response_model=BatchJobOut)
def end_job(request: Request, body: JobEndIn, job_id: str = _ID) -> BatchJobOut:
    """Record how a running batch job ended."""
    end = JobEnd(
        JobStatus(body.status) if body.status in ("succeeded", "failed") else JobStatus.RUNNING,
        body.rows_in,
        body.rows_out,
        body.rows_rejected,
        body.error,
        tuple(body.files),
    )
    return job_out(_store(request).finish(job_id, end))
