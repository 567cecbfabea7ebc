"""Tracking on the metadata database."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.artifacts import ArtifactStore, check_key
from usina.errors import Conflict, InvalidInput, NotFound
from usina.store import Database, insert_if_absent
from usina.store import schema as t
from usina.store.paging import check_page
from usina.tracking.checks import (
    check_final_status,
    check_name,
    checked,
    metric,
    require_blob,
)
from usina.tracking.checks import check_key as check_metric_key
from usina.tracking.entities import (
    Experiment,
    Metric,
    Run,
    RunArtifact,
    RunInput,
    RunStatus,
)


class SqlTrackingStore:
    """Experiments and runs in the metadata database; ``actor`` is recorded on every write.

    Every check a write needs runs here, so a client on the database and a client of a server
    (whose routes call this store) get the same answers. ``artifacts`` is the store whose blobs
    runs may point at: an artifact is recorded only once its blob is there.
    """

    def __init__(
        self,
        db: Database,
        actor: str = "local",
        heartbeat_timeout: float = 60.0,
        *,
        artifacts: ArtifactStore,
    ) -> None:
        self.db = db
        self.actor = actor
        self.heartbeat_timeout = heartbeat_timeout
        self.artifacts = artifacts

    # -- writes ---------------------------------------------------------------------------

    def create_run(
        self,
        experiment: str,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Run:
        """Start a run, with its first params and tags in the same transaction."""
        check_name(experiment, "experiment")
        params = checked(params, "param")
        tags = checked(tags, "tag")
        if name is not None:
            check_name(name, "run name")
        run_id = uuid.uuid4().hex
        now = time.time()
        run_name = name or f"run-{run_id[:8]}"

        def tx(conn: Connection) -> None:
            exp_id = self._experiment_id(conn, experiment, create=True)
            conn.execute(
                t.runs.insert().values(
                    id=run_id,
                    experiment_id=exp_id,
                    name=run_name,
                    status=RunStatus.RUNNING.value,
                    start_time=now,
                    heartbeat_at=now,
                    created_by=self.actor,
                )
            )
            if params:
                conn.execute(
                    t.params.insert(),
                    [{"run_id": run_id, "key": k, "value": v} for k, v in params.items()],
                )
            if tags:
                conn.execute(
                    t.run_tags.insert(),
                    [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()],
                )

        self.db.write(tx)
        return Run(
            run_id, experiment, run_name, RunStatus.RUNNING, now, None, self.actor, params, {}, tags
        )

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        params = checked(params, "param")
        tags = checked(tags, "tag")
        metrics = [metric(m.key, m.value, m.step, m.timestamp) for m in metrics]
        rows = [
            {
                "run_id": run_id,
                "key": m.key,
                "value": m.value,
                "step": m.step,
                "timestamp": m.timestamp,
            }
            for m in metrics
        ]

        def tx(conn: Connection) -> None:
            self._require_running(conn, run_id)
            if rows:
                conn.execute(t.metrics.insert(), rows)
            if params:
                existing = dict(
                    conn.execute(
                        sa.select(t.params.c.key, t.params.c.value).where(
                            t.params.c.run_id == run_id, t.params.c.key.in_(list(params))
                        )
                    ).all()
                )
                for key, value in params.items():
                    if key in existing and existing[key] != value:
                        raise Conflict(
                            f"param {key!r} of run {run_id} is already {existing[key]!r}; params "
                            "cannot change once logged (log a metric or a tag instead)",
                            field=key,
                        )
                new = [
                    {"run_id": run_id, "key": k, "value": v}
                    for k, v in params.items()
                    if k not in existing
                ]
                if new:
                    conn.execute(t.params.insert(), new)
            if tags:
                conn.execute(
                    t.run_tags.delete().where(
                        t.run_tags.c.run_id == run_id, t.run_tags.c.key.in_(list(tags))
                    )
                )
                conn.execute(
                    t.run_tags.insert(),
                    [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()],
                )

        self.db.write(tx)

    def log_artifact(self, run_id: str, path: str, digest: str, size: int) -> None:
        check_key(path)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidInput(f"artifact size {size!r} is not a byte count", field="size")
        require_blob(self.artifacts, digest)

        def tx(conn: Connection) -> None:
            self._require_running(conn, run_id)
            conn.execute(
                t.run_artifacts.delete().where(
                    t.run_artifacts.c.run_id == run_id, t.run_artifacts.c.path == path
                )
            )
            conn.execute(
                t.run_artifacts.insert().values(run_id=run_id, path=path, digest=digest, size=size)
            )

        self.db.write(tx)

    def log_input(self, run_id: str, name: str, digest: str, rows: int | None = None) -> None:
        check_name(name, "dataset name")

        def tx(conn: Connection) -> None:
            self._require_running(conn, run_id)
            exists = conn.execute(
                sa.select(t.run_inputs.c.run_id).where(
                    t.run_inputs.c.run_id == run_id,
                    t.run_inputs.c.name == name,
                    t.run_inputs.c.digest == digest,
                )
            ).first()
            if not exists:
                conn.execute(
                    t.run_inputs.insert().values(run_id=run_id, name=name, digest=digest, rows=rows)
                )

        self.db.write(tx)

    def heartbeat(self, run_id: str) -> None:
        """Mark the run alive; a run whose heartbeat goes stale is failed by readers.

        ``NotFound`` if there is no such run; a run that has ended is left as it is.
        """

        def tx(conn: Connection) -> None:
            row = self._run_row(conn, run_id)
            conn.execute(
                t.runs.update()
                .where(t.runs.c.id == row.id, t.runs.c.status == RunStatus.RUNNING.value)
                .values(heartbeat_at=time.time())
            )

        self.db.write(tx)

    def end_run(self, run_id: str, status: RunStatus) -> None:
        """Close a running run; ``InvalidInput`` unless ``status`` is finished, failed or
        killed. Ending a run that has ended already changes nothing."""
        final = check_final_status(status)

        def tx(conn: Connection) -> None:
            row = self._run_row(conn, run_id)
            conn.execute(
                t.runs.update()
                .where(t.runs.c.id == row.id, t.runs.c.status == RunStatus.RUNNING.value)
                .values(status=final.value, end_time=time.time())
            )

        self.db.write(tx)

    def fail_stale_runs(self) -> int:
        """Mark failed every running run whose heartbeat is older than the timeout."""
        cutoff = time.time() - self.heartbeat_timeout

        def tx(conn: Connection) -> int:
            result = conn.execute(
                t.runs.update()
                .where(t.runs.c.status == RunStatus.RUNNING.value, t.runs.c.heartbeat_at < cutoff)
                .values(status=RunStatus.FAILED.value, end_time=t.runs.c.heartbeat_at)
            )
            return int(result.rowcount or 0)

        with self.db.read() as conn:
            stale = conn.execute(
                sa.select(sa.func.count())
                .select_from(t.runs)
                .where(t.runs.c.status == RunStatus.RUNNING.value, t.runs.c.heartbeat_at < cutoff)
            ).scalar()
        return self.db.write(tx) if stale else 0

    # -- reads ----------------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run:
        self.fail_stale_runs()
        with self.db.read() as conn:
            row = self._run_row(conn, run_id)
            return self._full_run(conn, row)

    def list_runs(
        self,
        experiment: str | None = None,
        status: str | None = None,
        limit: int = 100,
        *,
        offset: int = 0,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[Run]:
        check_page(limit, offset)
        self.fail_stale_runs()
        if status is not None and status not in {s.value for s in RunStatus}:
            raise InvalidInput(
                f"status {status!r} is not one of {', '.join(s.value for s in RunStatus)}",
                field="status",
            )
        query = (
            sa.select(t.runs, t.experiments.c.name.label("experiment"))
            .join(t.experiments, t.experiments.c.id == t.runs.c.experiment_id)
            .order_by(t.runs.c.start_time.desc(), t.runs.c.id)
            .limit(limit)
            .offset(offset)
        )
        if experiment is not None:
            query = query.where(t.experiments.c.name == experiment)
        if status is not None:
            query = query.where(t.runs.c.status == status)
        if name:
            query = query.where(t.runs.c.name.contains(name, autoescape=True))
        for key, value in (tags or {}).items():
            query = query.where(
                sa.exists().where(
                    t.run_tags.c.run_id == t.runs.c.id,
                    t.run_tags.c.key == key,
                    t.run_tags.c.value == str(value),
                )
            )
        if since is not None:
            query = query.where(t.runs.c.start_time >= since)
        if until is not None:
            query = query.where(t.runs.c.start_time < until)
        with self.db.read() as conn:
            if experiment is not None:
                self._experiment_id(conn, experiment, create=False)
            return [self._full_run(conn, row) for row in conn.execute(query).all()]

    def list_experiments(
        self, name: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[Experiment]:
        counts = (
            sa.select(t.runs.c.experiment_id, sa.func.count().label("n"))
            .group_by(t.runs.c.experiment_id)
            .subquery()
        )
        query = (
            sa.select(t.experiments, sa.func.coalesce(counts.c.n, 0).label("n"))
            .outerjoin(counts, counts.c.experiment_id == t.experiments.c.id)
            .order_by(t.experiments.c.name)
            .offset(offset)
        )
        check_page(limit, offset)
        if limit is not None:
            query = query.limit(limit)
        if name:
            query = query.where(t.experiments.c.name.contains(name, autoescape=True))
        with self.db.read() as conn:
            return [
                Experiment(r.id, r.name, r.created_at, r.created_by, int(r.n))
                for r in conn.execute(query).all()
            ]

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        check_metric_key(key, "metric")
        with self.db.read() as conn:
            self._run_row(conn, run_id)
            rows = conn.execute(
                sa.select(
                    t.metrics.c.key, t.metrics.c.value, t.metrics.c.step, t.metrics.c.timestamp
                )
                .where(t.metrics.c.run_id == run_id, t.metrics.c.key == key)
                .order_by(t.metrics.c.step, t.metrics.c.timestamp, t.metrics.c.id)
            ).all()
        return [Metric(*r) for r in rows]

    # -- helpers --------------------------------------------------------------------------

    def _experiment_id(self, conn: Connection, name: str, *, create: bool) -> int:
        found = conn.execute(
            sa.select(t.experiments.c.id).where(t.experiments.c.name == name)
        ).scalar()
        if found is not None:
            return int(found)
        if not create:
            raise NotFound(
                f"no experiment named {name!r}; see 'usina experiments list'", field="experiment"
            )
        insert_if_absent(
            conn,
            t.experiments,
            {"name": name, "created_at": time.time(), "created_by": self.actor},
            unique=["name"],
        )
        return int(
            conn.execute(
                sa.select(t.experiments.c.id).where(t.experiments.c.name == name)
            ).scalar_one()
        )

    def _run_row(self, conn: Connection, run_id: str) -> Any:
        if not isinstance(run_id, str) or not re.fullmatch(r"[0-9a-f]{6,32}", run_id):
            raise InvalidInput(
                f"run id {run_id!r} is not valid; run ids are 32 hex characters "
                "(a unique prefix of 6 or more works too)",
                field="run_id",
            )
        query = sa.select(t.runs, t.experiments.c.name.label("experiment")).join(
            t.experiments, t.experiments.c.id == t.runs.c.experiment_id
        )
        if len(run_id) == 32:
            rows = conn.execute(query.where(t.runs.c.id == run_id)).all()
        else:
            rows = conn.execute(query.where(t.runs.c.id.startswith(run_id)).limit(2)).all()
        if not rows:
            raise NotFound(f"no run with id {run_id!r}; see 'usina runs list'", field="run_id")
        if len(rows) > 1:
            raise InvalidInput(
                f"run id prefix {run_id!r} matches several runs; give more characters",
                field="run_id",
            )
        return rows[0]

    def _require_running(self, conn: Connection, run_id: str) -> None:
        row = self._run_row(conn, run_id)
        if row.status != RunStatus.RUNNING.value:
            raise Conflict(
                f"run {run_id} is {row.status}; start a new run to log more", field="run_id"
            )

    def _full_run(self, conn: Connection, row: Any) -> Run:
        rid = row.id
        params = dict(
            conn.execute(
                sa.select(t.params.c.key, t.params.c.value).where(t.params.c.run_id == rid)
            ).all()
        )
        tags = dict(
            conn.execute(
                sa.select(t.run_tags.c.key, t.run_tags.c.value).where(t.run_tags.c.run_id == rid)
            ).all()
        )
        latest: dict[str, tuple[int, float, int, float]] = {}
        for key, value, step, ts, mid in conn.execute(
            sa.select(
                t.metrics.c.key,
                t.metrics.c.value,
                t.metrics.c.step,
                t.metrics.c.timestamp,
                t.metrics.c.id,
            ).where(t.metrics.c.run_id == rid)
        ).all():
            order = (step, ts, mid)
            if key not in latest or order >= latest[key][:3]:
                latest[key] = (step, ts, mid, value)
        artifacts = tuple(
            RunArtifact(p, d, s)
            for p, d, s in conn.execute(
                sa.select(t.run_artifacts.c.path, t.run_artifacts.c.digest, t.run_artifacts.c.size)
                .where(t.run_artifacts.c.run_id == rid)
                .order_by(t.run_artifacts.c.path)
            ).all()
        )
        inputs = tuple(
            RunInput(n, d, r)
            for n, d, r in conn.execute(
                sa.select(t.run_inputs.c.name, t.run_inputs.c.digest, t.run_inputs.c.rows)
                .where(t.run_inputs.c.run_id == rid)
                .order_by(t.run_inputs.c.name)
            ).all()
        )
        return Run(
            id=rid,
            experiment=row.experiment,
            name=row.name,
            status=RunStatus(row.status),
            start_time=row.start_time,
            end_time=row.end_time,
            created_by=row.created_by,
            params=params,
            metrics={k: v[3] for k, v in sorted(latest.items())},
            tags=tags,
            artifacts=artifacts,
            inputs=inputs,
        )
