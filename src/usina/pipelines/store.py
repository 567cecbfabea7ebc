"""Pipeline runs, step runs and artifact links in the metadata database."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.errors import NotFound
from usina.pipelines.types import Artifact
from usina.store import Database
from usina.store import schema as t


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
        raise NotFound(f"pipeline run {self.id} has no step {node!r}")

    def output(self, node: str, name: str = "output") -> Artifact:
        """The artifact ``node`` produced (or reused) under ``name``."""
        return self.step(node).outputs[name]


def _outputs_json(outputs: dict[str, Artifact]) -> str:
    return orjson.dumps({k: a.to_json() for k, a in outputs.items()}).decode()


def _step_row(row: Any) -> StepRun:
    outputs = {k: Artifact.from_json(v) for k, v in orjson.loads(row.outputs).items()}
    return StepRun(
        row.id,
        row.pipeline_run_id,
        row.node,
        StepStatus(row.status),
        row.cache_key,
        row.cached_from,
        row.attempts,
        row.start_time,
        row.end_time,
        outputs,
        row.error,
        row.log_digest,
    )


class PipelineStore:
    """Reads and writes of pipeline state; every write is one short transaction."""

    def __init__(self, db: Database, actor: str = "local") -> None:
        self.db = db
        self.actor = actor

    def create_run(
        self,
        run_id: str,
        pipeline: str,
        ref: str,
        params: dict[str, Any],
        trigger: str,
        resumed_from: str | None,
    ) -> None:
        def tx(conn: Connection) -> None:
            conn.execute(
                t.pipeline_runs.insert().values(
                    id=run_id,
                    pipeline=pipeline,
                    ref=ref,
                    params=orjson.dumps(params).decode(),
                    status=PipelineStatus.RUNNING.value,
                    trigger=trigger,
                    resumed_from=resumed_from,
                    start_time=time.time(),
                    created_by=self.actor,
                )
            )

        self.db.write(tx)

    def end_run(self, run_id: str, status: PipelineStatus) -> None:
        self.db.write(
            lambda conn: conn.execute(
                t.pipeline_runs.update()
                .where(t.pipeline_runs.c.id == run_id)
                .values(status=status.value, end_time=time.time())
            )
        )

    def record_steps(
        self, steps: Iterable[StepRun], inputs: dict[str, dict[str, Artifact]] | None = None
    ) -> None:
        """Insert or replace step rows, with the artifact links of those that produced outputs."""
        rows = list(steps)
        if not rows:
            return
        inputs = inputs or {}

        def tx(conn: Connection) -> None:
            ids = [s.id for s in rows]
            conn.execute(t.step_runs.delete().where(t.step_runs.c.id.in_(ids)))
            conn.execute(
                t.step_runs.insert(),
                [
                    {
                        "id": s.id,
                        "pipeline_run_id": s.pipeline_run_id,
                        "node": s.node,
                        "status": s.status.value,
                        "cache_key": s.cache_key,
                        "cached_from": s.cached_from,
                        "attempts": s.attempts,
                        "start_time": s.start_time,
                        "end_time": s.end_time,
                        "outputs": _outputs_json(s.outputs),
                        "error": s.error,
                        "log_digest": s.log_digest,
                    }
                    for s in rows
                ],
            )
            links = []
            for s in rows:
                if s.status != StepStatus.DONE:
                    continue
                for role, arts in (("input", inputs.get(s.id, {})), ("output", s.outputs)):
                    for name, a in arts.items():
                        links.append(
                            {
                                "step_run_id": s.id,
                                "role": role,
                                "name": name,
                                "digest": a.digest,
                                "kind": a.kind,
                                "rows": a.rows,
                            }
                        )
            if links:
                conn.execute(
                    t.artifact_links.delete().where(t.artifact_links.c.step_run_id.in_(ids))
                )
                conn.execute(t.artifact_links.insert(), links)

        self.db.write(tx)

    def find_cached(self, cache_key: str) -> StepRun | None:
        """The latest successful execution with this cache key."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(t.step_runs)
                .where(
                    t.step_runs.c.cache_key == cache_key,
                    t.step_runs.c.status == StepStatus.DONE.value,
                )
                .order_by(t.step_runs.c.end_time.desc())
                .limit(1)
            ).first()
        return _step_row(row) if row is not None else None

    def find_cached_many(self, keys: list[str]) -> dict[str, StepRun]:
        """``find_cached`` for several keys in one query."""
        if not keys:
            return {}
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(t.step_runs)
                .where(
                    t.step_runs.c.cache_key.in_(keys), t.step_runs.c.status == StepStatus.DONE.value
                )
                .order_by(t.step_runs.c.end_time)
            ).all()
        return {row.cache_key: _step_row(row) for row in rows}  # latest wins

    def get_run(self, run_id: str) -> PipelineRun:
        """A pipeline run with its step runs; ``NotFound`` if absent."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(t.pipeline_runs).where(t.pipeline_runs.c.id == run_id)
            ).first()
            if row is None:
                raise NotFound(f"no pipeline run {run_id!r}; list them with 'usina pipelines runs'")
            steps = conn.execute(
                sa.select(t.step_runs)
                .where(t.step_runs.c.pipeline_run_id == run_id)
                .order_by(t.step_runs.c.start_time)
            ).all()
        return self._run_record(row, tuple(_step_row(s) for s in steps))

    def list_runs(
        self, pipeline: str | None = None, trigger_prefix: str | None = None, limit: int = 50
    ) -> list[PipelineRun]:
        """Pipeline runs, newest first."""
        query = (
            sa.select(t.pipeline_runs).order_by(t.pipeline_runs.c.start_time.desc()).limit(limit)
        )
        if pipeline:
            query = query.where(t.pipeline_runs.c.pipeline == pipeline)
        if trigger_prefix:
            query = query.where(t.pipeline_runs.c.trigger.startswith(trigger_prefix))
        with self.db.read() as conn:
            return [self._run_record(r, ()) for r in conn.execute(query).all()]

    def get_step(self, step_run_id: str) -> StepRun | None:
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(t.step_runs).where(t.step_runs.c.id == step_run_id)
            ).first()
        return _step_row(row) if row is not None else None

    def links(self, step_run_id: str, role: str) -> list[Any]:
        with self.db.read() as conn:
            return list(
                conn.execute(
                    sa.select(t.artifact_links).where(
                        t.artifact_links.c.step_run_id == step_run_id,
                        t.artifact_links.c.role == role,
                    )
                ).all()
            )

    def producers(self, digest: str) -> list[str]:
        """Step runs that produced ``digest``, newest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(t.artifact_links.c.step_run_id)
                .join(t.step_runs, t.step_runs.c.id == t.artifact_links.c.step_run_id)
                .where(t.artifact_links.c.digest == digest, t.artifact_links.c.role == "output")
                .order_by(t.step_runs.c.end_time.desc())
            ).all()
        return [r.step_run_id for r in rows]

    def readers(self, digest: str) -> list[str]:
        """Step runs that read ``digest``."""
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(t.artifact_links.c.step_run_id).where(
                    t.artifact_links.c.digest == digest, t.artifact_links.c.role == "input"
                )
            ).all()
        return [r.step_run_id for r in rows]

    @staticmethod
    def _run_record(row: Any, steps: tuple[StepRun, ...]) -> PipelineRun:
        return PipelineRun(
            row.id,
            row.pipeline,
            row.ref,
            orjson.loads(row.params),
            PipelineStatus(row.status),
            row.trigger,
            row.resumed_from,
            row.start_time,
            row.end_time,
            row.created_by,
            steps,
        )
