"""What pipeline stores keep: pipeline runs, step runs, artifact links, schedules and fires.

Step-run records are made through their named constructors (``StepRun.done``,
``StepRun.cached``, ``StepRun.failed``, ``StepRun.skipped``), so every writer (the local
runner, a compiled component) records a step the same way.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from usina.errors import NotFound
from usina.pipelines.types import Artifact


class StepStatus(StrEnum):
    """Where a step is in a pipeline run."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    CACHED = "cached"
    FAILED = "failed"
    SKIPPED = "skipped"


class PipelineStatus(StrEnum):
    """How a pipeline run ended (or that it has not)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class StepRun:
    """One step's execution (or reuse) in a pipeline run."""

    id: str
    pipeline_run_id: str
    node: str
    status: StepStatus
    cache_key: str
    cached_from: str | None = None
    attempts: int = 0
    start_time: float | None = None
    end_time: float | None = None
    outputs: dict[str, Artifact] = field(default_factory=dict)
    error: str = ""
    log_digest: str | None = None

    @classmethod
    def done(
        cls,
        step_run_id: str,
        pipeline_run_id: str,
        node: str,
        cache_key: str,
        *,
        attempts: int,
        started: float,
        outputs: dict[str, Artifact],
        log_digest: str | None = None,
        ended: float | None = None,
    ) -> StepRun:
        """An execution that succeeded (its id is the step's tracking run)."""
        return cls(
            step_run_id,
            pipeline_run_id,
            node,
            StepStatus.DONE,
            cache_key,
            None,
            attempts,
            started,
            time.time() if ended is None else ended,
            outputs,
            "",
            log_digest,
        )

    @classmethod
    def failed(
        cls,
        step_run_id: str,
        pipeline_run_id: str,
        node: str,
        cache_key: str,
        *,
        attempts: int,
        started: float,
        error: str,
        log_digest: str | None = None,
        ended: float | None = None,
    ) -> StepRun:
        """An execution that failed on its last attempt, or was interrupted."""
        return cls(
            step_run_id,
            pipeline_run_id,
            node,
            StepStatus.FAILED,
            cache_key,
            None,
            attempts,
            started,
            time.time() if ended is None else ended,
            {},
            error,
            log_digest,
        )

    @classmethod
    def cached(cls, pipeline_run_id: str, node: str, cache_key: str, previous: StepRun) -> StepRun:
        """A step reusing ``previous``'s outputs; it points at the execution that made them."""
        now = time.time()
        return cls(
            uuid.uuid4().hex,
            pipeline_run_id,
            node,
            StepStatus.CACHED,
            cache_key,
            previous.cached_from or previous.id,
            0,
            now,
            now,
            previous.outputs,
        )

    @classmethod
    def skipped(cls, pipeline_run_id: str, node: str) -> StepRun:
        """A step that never ran because a step upstream of it failed."""
        return cls(uuid.uuid4().hex, pipeline_run_id, node, StepStatus.SKIPPED, "")


@dataclass(frozen=True)
class PipelineRun:
    """A pipeline run as stored: what ran, with which parameters, why, and how it ended."""

    id: str
    pipeline: str
    ref: str
    params: dict[str, Any]
    status: PipelineStatus
    trigger: str
    resumed_from: str | None
    start_time: float
    end_time: float | None
    created_by: str
    steps: tuple[StepRun, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == PipelineStatus.SUCCEEDED

    def step(self, node: str) -> StepRun:
        """The step run of ``node``; ``NotFound`` when the run has none."""
        for s in self.steps:
            if s.node == node:
                return s
        raise NotFound(f"pipeline run {self.id} has no step {node!r}", field="step")

    def output(self, node: str, name: str = "output") -> Artifact:
        """The artifact ``node`` produced (or reused) under ``name``."""
        return self.step(node).outputs[name]


@dataclass(frozen=True)
class ArtifactLink:
    """An artifact a step execution read (``input``) or wrote (``output``), by digest."""

    step_run_id: str
    role: str
    name: str
    digest: str
    kind: str
    rows: int | None


@dataclass(frozen=True)
class ArtifactUse:
    """The step runs that produced an artifact (newest first) and those that read it."""

    digest: str
    producers: tuple[StepRun, ...]
    readers: tuple[StepRun, ...]


@dataclass(frozen=True)
class Schedule:
    """A cron trigger for a pipeline with fixed parameters."""

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


@dataclass(frozen=True)
class Fire:
    """A tick a scheduler claimed: the run it started (or none, for a skipped catch-up)."""

    schedule: str
    tick: float
    missed: int
    pipeline_run_id: str | None
