"""The JSON bodies of the pipeline and schedule routes (``/api/v1/pipeline-runs``,
``/api/v1/step-runs``, ``/api/v1/schedules``...). The stores check the values in detail; these
models bound sizes and types, and describe the answers in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from usina.pipelines.entities import ArtifactUse, PipelineRun, Schedule, StepRun
from usina.pipelines.types import Artifact
from usina.server.schemas import MAX_BATCH, Strict

_ID = Field(max_length=32, description="32 hex digits.")


class ArtifactModel(Strict):
    """A stored output as steps pass it on: kind, digest, and what reading it back needs."""

    kind: str = Field(max_length=16, description="dataset, model, json or metrics.")
    digest: str = Field(max_length=64)
    size: int = Field(default=0, ge=0, le=2**63 - 1)
    rows: int | None = Field(default=None, ge=0, le=2**63 - 1)
    format: str | None = Field(default=None, max_length=64)
    model_class: str | None = Field(default=None, max_length=512)
    features: list[str] | None = Field(default=None, max_length=MAX_BATCH)
    value: Any = Field(default=None, description="JSON and metrics values travel inline.")

    def artifact(self) -> Artifact:
        return Artifact.from_json(self.model_dump(exclude_none=True))


class StepRunModel(Strict):
    id: str = _ID
    pipeline_run_id: str = _ID
    node: str = Field(max_length=256)
    status: str = Field(description="pending, running, done, cached, failed or skipped.")
    cache_key: str = Field(default="", max_length=64)
    cached_from: str | None = Field(default=None, max_length=32)
    attempts: int = Field(default=0, ge=0, le=10_000)
    start_time: float | None = None
    end_time: float | None = None
    outputs: dict[str, ArtifactModel] = Field(default_factory=dict, max_length=1000)
    error: str = Field(default="", max_length=1_000_000)
    log_digest: str | None = Field(default=None, max_length=64)

    def step_run(self) -> StepRun:
        """The record, its status unchecked: the store refuses an unknown one."""
        return StepRun(
            self.id,
            self.pipeline_run_id,
            self.node,
            self.status,  # type: ignore[arg-type]
            self.cache_key,
            self.cached_from,
            self.attempts,
            self.start_time,
            self.end_time,
            {k: a.artifact() for k, a in self.outputs.items()},
            self.error,
            self.log_digest,
        )


def step_out(s: StepRun) -> StepRunModel:
    return StepRunModel(
        id=s.id,
        pipeline_run_id=s.pipeline_run_id,
        node=s.node,
        status=s.status.value,
        cache_key=s.cache_key,
        cached_from=s.cached_from,
        attempts=s.attempts,
        start_time=s.start_time,
        end_time=s.end_time,
        outputs={k: ArtifactModel(**a.to_json()) for k, a in s.outputs.items()},
        error=s.error,
        log_digest=s.log_digest,
    )


class PipelineRunIn(Strict):
    id: str = _ID
    pipeline: str = Field(max_length=256)
    ref: str = Field(max_length=4096, description="How to load the pipeline, FILE.py:NAME.")
    params: dict[str, Any] = Field(default_factory=dict, max_length=MAX_BATCH)
    trigger: str = Field(default="manual", max_length=256)
    resumed_from: str | None = Field(default=None, max_length=32)
    exist_ok: bool = Field(default=False, description="Answer the run if the id exists.")


class PipelineRunOut(BaseModel):
    id: str
    pipeline: str
    ref: str
    params: dict[str, Any]
    status: str
    trigger: str
    resumed_from: str | None
    start_time: float
    end_time: float | None
    created_by: str
    steps: list[StepRunModel] = Field(description="Empty in lists; filled for one run.")


def run_out(r: PipelineRun) -> PipelineRunOut:
    return PipelineRunOut(
        id=r.id,
        pipeline=r.pipeline,
        ref=r.ref,
        params=r.params,
        status=r.status.value,
        trigger=r.trigger,
        resumed_from=r.resumed_from,
        start_time=r.start_time,
        end_time=r.end_time,
        created_by=r.created_by,
        steps=[step_out(s) for s in r.steps],
    )


class PipelineEndIn(Strict):
    status: str = Field(description="succeeded or failed.")


class StepsIn(Strict):
    steps: list[StepRunModel] = Field(max_length=MAX_BATCH)
    inputs: dict[str, dict[str, ArtifactModel]] = Field(
        default_factory=dict,
        max_length=MAX_BATCH,
        description="Step run id -> the artifacts that executed step read, by argument.",
    )


class ArtifactLinkOut(BaseModel):
    step_run_id: str
    role: str = Field(description="input or output.")
    name: str
    digest: str
    kind: str
    rows: int | None


class ArtifactUseOut(BaseModel):
    digest: str
    producers: list[StepRunModel]
    readers: list[StepRunModel]


def use_out(u: ArtifactUse) -> ArtifactUseOut:
    return ArtifactUseOut(
        digest=u.digest,
        producers=[step_out(s) for s in u.producers],
        readers=[step_out(s) for s in u.readers],
    )


# -- schedules ----------------------------------------------------------------------------


class ScheduleIn(Strict):
    name: str = Field(max_length=256)
    pipeline: str = Field(max_length=4096)
    cron: str = Field(max_length=128, description="Five fields, UTC: '0 3 * * *'.")
    params: dict[str, Any] = Field(default_factory=dict, max_length=MAX_BATCH)
    catchup: str = Field(default="skip", description="skip or once.")
    now: float | None = Field(default=None, description="The first tick follows this time.")


class ScheduleOut(BaseModel):
    name: str
    pipeline: str
    cron: str
    params: dict[str, Any]
    catchup: str
    paused: bool
    next_tick: float
    last_tick: float | None
    created_at: float
    created_by: str


def schedule_out(s: Schedule) -> ScheduleOut:
    return ScheduleOut(**s.__dict__)


class NowIn(Strict):
    now: float | None = Field(default=None, description="Resume from the first tick after it.")


class FireOut(BaseModel):
    schedule: str
    tick: float
    missed: int
    pipeline_run_id: str | None


class LeaseIn(Strict):
    holder: str = Field(max_length=128)
    lease_s: float = Field(description="Seconds the lease lasts without renewal.")
    now: float | None = None


class LeaseOut(BaseModel):
    held: bool = Field(description="Whether the holder leads until now + lease_s.")


class ClaimIn(Strict):
    expected_next_tick: float
    tick: float
    upcoming: float
    missed: int = Field(ge=0, le=2**31)
    holder: str = Field(max_length=128)


class ClaimOut(BaseModel):
    claimed: bool = Field(description="False when another scheduler claimed the tick first.")


class FireLinkIn(Strict):
    tick: float
    pipeline_run_id: str = _ID
