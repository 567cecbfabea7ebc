"""Pipeline runs, step runs and artifact links in the metadata database.

Every check of what may be stored is here, so a server (which calls this store) and a direct
client agree on what is refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from types import SimpleNamespace
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.errors import Conflict, InvalidInput, NotFound
from usina.pipelines.entities import (
    ArtifactLink,
    ArtifactUse,
    PipelineRun,
    PipelineStatus,
    StepRun,
    StepStatus,
)
from usina.pipelines.types import Artifact
from usina.store import Database, insert_if_absent
from usina.store import schema as t

_ID = re.compile(r"[0-9a-f]{32}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,255}")
_STEP_STATUSES = frozenset(x.value for x in StepStatus)
MAX_LIST = 10_000


def check_id(value: Any, field: str) -> str:
    """A run or step run id: 32 lowercase hex digits."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidInput(
            f"{field} {value!r} is not a run id (32 hex digits); list pipeline runs with "
            "'usina pipelines runs'",
            field=field,
        )
    return value


def check_limit(limit: Any, offset: Any) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise InvalidInput(
            f"limit {limit!r} is not a whole number from 1 to {MAX_LIST}", field="limit"
        )
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInput(f"offset {offset!r} is not a whole number >= 0", field="offset")


def _check_name(value: Any, field: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput(
            f"{what} {value!r} is not valid; use letters, digits and '._-' (at most 256)",
            field=field,
        )
    return value


def _outputs_json(outputs: Mapping[str, Artifact]) -> str:
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


def _run_row(row: Any, steps: tuple[StepRun, ...]) -> PipelineRun:
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


def _check_step(s: Any, run_id: str) -> None:
    if not isinstance(s, StepRun):
        raise InvalidInput(f"{s!r} is not a step run", field="steps")
    check_id(s.id, "step_run_id")
    if s.pipeline_run_id != run_id:
        raise InvalidInput(
            f"step run {s.id} belongs to pipeline run {s.pipeline_run_id}, not {run_id}; "
            "record one pipeline run's steps at a time",
            field="pipeline_run_id",
        )
    _check_name(s.node, "node", "step name")
    if s.status not in _STEP_STATUSES:
        raise InvalidInput(
            f"step status {s.status!r} is not one of {', '.join(x.value for x in StepStatus)}",
            field="status",
        )
    if s.cached_from is not None:
        check_id(s.cached_from, "cached_from")
    if s.status == StepStatus.CACHED and s.cached_from is None:
        raise InvalidInput(f"cached step {s.node!r} names no cached_from", field="cached_from")


class SqlPipelineStore:
    """Reads and writes of pipeline state; every write is one short transaction."""

    def __init__(self, db: Database, actor: str = "local") -> None:
        self.db = db
        self.actor = actor

    # -- writes ---------------------------------------------------------------------------

    def create_run(
        self,
        run_id: str,
        pipeline: str,
        ref: str,
        params: Mapping[str, Any],
        trigger: str,
        resumed_from: str | None = None,
        *,
        exist_ok: bool = False,
    ) -> PipelineRun:
        check_id(run_id, "run_id")
        _check_name(pipeline, "pipeline", "pipeline name")
        if not isinstance(ref, str) or not ref or len(ref) > 4096:
            raise InvalidInput("ref must name the pipeline, FILE.py:NAME", field="ref")
        if not isinstance(trigger, str) or not trigger or len(trigger) > 256:
            raise InvalidInput(
                f"trigger {trigger!r} must be 1 to 256 characters (manual, schedule:NAME...)",
                field="trigger",
            )
        if resumed_from is not None:
            try:
                self.get_run(check_id(resumed_from, "resumed_from"))
            except NotFound:
                raise self._missing(resumed_from, "resumed_from") from None
        try:
            params_text = orjson.dumps(dict(params)).decode()
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise InvalidInput(f"params are not JSON values: {exc}", field="params") from None
        values = {
            "id": run_id,
            "pipeline": pipeline,
            "ref": ref,
            "params": params_text,
            "status": PipelineStatus.RUNNING.value,
            "trigger": trigger,
            "resumed_from": resumed_from,
            "start_time": time.time(),
            "created_by": self.actor,
        }

        def tx(conn: Connection) -> bool:
            inserted = insert_if_absent(conn, t.pipeline_runs, values, ["id"])
            if not inserted and not exist_ok:
                raise Conflict(f"pipeline run {run_id} already exists", field="run_id")
            return inserted

        if not self.db.write(tx):
            return self.get_run(run_id)  # exist_ok: the run as stored, which may differ
        # Just inserted: the run is what was written, with no steps yet.
        return _run_row(SimpleNamespace(**values, end_time=None), ())

    def end_run(self, run_id: str, status: PipelineStatus | str) -> None:
        check_id(run_id, "run_id")
        if status not in (PipelineStatus.SUCCEEDED.value, PipelineStatus.FAILED.value):
            raise InvalidInput(
                f"status {status!r} is not succeeded or failed; a run ends with one of them",
                field="status",
            )
        status = PipelineStatus(status)

        def tx(conn: Connection) -> None:
            row = conn.execute(
                sa.select(t.pipeline_runs.c.status).where(t.pipeline_runs.c.id == run_id)
            ).first()
            if row is None:
                raise self._missing(run_id)
            if row.status != PipelineStatus.RUNNING.value and row.status != status.value:
                raise Conflict(f"pipeline run {run_id} already ended {row.status}", field="run_id")
            conn.execute(
                t.pipeline_runs.update()
                .where(t.pipeline_runs.c.id == run_id)
                .values(status=PipelineStatus(status).value, end_time=time.time())
            )

        self.db.write(tx)

    def record_steps(
        self,
        steps: Iterable[StepRun],
        inputs: Mapping[str, Mapping[str, Artifact]] | None = None,
    ) -> None:
        rows = list(steps)
        if not rows:
            return
        run_id = check_id(rows[0].pipeline_run_id, "pipeline_run_id")
        for s in rows:
            _check_step(s, run_id)
        inputs = inputs or {}
        ids = [s.id for s in rows]
        for step_id in inputs:
            if step_id not in ids:
                raise InvalidInput(
                    f"inputs name step run {step_id!r}, which is not among the steps recorded",
                    field="inputs",
                )

        def tx(conn: Connection) -> None:
            exists = conn.execute(
                sa.select(t.pipeline_runs.c.id).where(t.pipeline_runs.c.id == run_id)
            ).first()
            if exists is None:
                raise self._missing(run_id, "pipeline_run_id")
            replaced = conn.execute(t.step_runs.delete().where(t.step_runs.c.id.in_(ids)))
            conn.execute(
                t.step_runs.insert(),
                [
                    {
                        "id": s.id,
                        "pipeline_run_id": s.pipeline_run_id,
                        "node": s.node,
                        "status": StepStatus(s.status).value,
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
            if replaced.rowcount:
                # Links are written only with their step run: a new step run has none yet.
                conn.execute(
                    t.artifact_links.delete().where(t.artifact_links.c.step_run_id.in_(ids))
                )
            if links:
                conn.execute(t.artifact_links.insert(), links)

        self.db.write(tx)

    def find_cached(self, cache_keys: Iterable[str]) -> dict[str, StepRun]:
        keys = [k for k in cache_keys if k]
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

    # -- reads ----------------------------------------------------------------------------

    def get_run(self, run_id: str) -> PipelineRun:
        check_id(run_id, "run_id")
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(t.pipeline_runs).where(t.pipeline_runs.c.id == run_id)
            ).first()
            if row is None:
                raise self._missing(run_id)
            steps = conn.execute(
                sa.select(t.step_runs)
                .where(t.step_runs.c.pipeline_run_id == run_id)
                .order_by(t.step_runs.c.start_time, t.step_runs.c.node)
            ).all()
        return _run_row(row, tuple(_step_row(s) for s in steps))

    def list_runs(
        self,
        pipeline: str | None = None,
        trigger_prefix: str | None = None,
        limit: int = 50,
        *,
        offset: int = 0,
    ) -> list[PipelineRun]:
        check_limit(limit, offset)
        query = (
            sa.select(t.pipeline_runs)
            .order_by(t.pipeline_runs.c.start_time.desc(), t.pipeline_runs.c.id)
            .limit(limit)
            .offset(offset)
        )
        if pipeline:
            query = query.where(t.pipeline_runs.c.pipeline == pipeline)
        if trigger_prefix:
            trigger = t.pipeline_runs.c.trigger
            query = query.where(trigger.startswith(trigger_prefix, autoescape=True))
        with self.db.read() as conn:
            return [_run_row(r, ()) for r in conn.execute(query).all()]

    def get_step(self, step_run_id: str) -> StepRun:
        check_id(step_run_id, "step_run_id")
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(t.step_runs).where(t.step_runs.c.id == step_run_id)
            ).first()
        if row is None:
            raise NotFound(f"no step run {step_run_id!r}", field="step_run_id")
        return _step_row(row)

    def step_links(self, step_run_id: str) -> list[ArtifactLink]:
        self.get_step(step_run_id)
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(t.artifact_links)
                .where(t.artifact_links.c.step_run_id == step_run_id)
                .order_by(t.artifact_links.c.role, t.artifact_links.c.name)
            ).all()
        return [ArtifactLink(r.step_run_id, r.role, r.name, r.digest, r.kind, r.rows) for r in rows]

    def artifact_use(self, digest: str) -> ArtifactUse:
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise InvalidInput(
                f"digest {digest!r} is not a SHA-256 digest (64 hex digits)", field="digest"
            )
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(t.step_runs, t.artifact_links.c.role)
                .join(t.artifact_links, t.step_runs.c.id == t.artifact_links.c.step_run_id)
                .where(t.artifact_links.c.digest == digest)
                .order_by(t.step_runs.c.end_time.desc(), t.step_runs.c.id)
            ).all()
        producers = tuple(_step_row(r) for r in rows if r.role == "output")
        readers = tuple(_step_row(r) for r in rows if r.role == "input")
        return ArtifactUse(digest, producers, readers)

    @staticmethod
    def _missing(run_id: str, field: str = "run_id") -> NotFound:
        return NotFound(
            f"no pipeline run {run_id!r}; list them with 'usina pipelines runs'", field=field
        )
