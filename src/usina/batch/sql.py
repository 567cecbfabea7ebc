"""Batch job runs in the metadata database."""

from __future__ import annotations

import builtins
import json
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.batch.entities import (
    BatchJob,
    JobEnd,
    JobStart,
    JobStatus,
    check_end,
    check_job_id,
    check_list_filters,
    check_start,
    stale_error,
)
from usina.errors import Conflict, NotFound
from usina.store import Database
from usina.store import schema as t


def job_from_row(row: Any) -> BatchJob:
    return BatchJob(
        id=row.id,
        name=row.name,
        model_uri=row.model_uri,
        model=row.model,
        version=int(row.version),
        input=row.input,
        output=row.output,
        partition=dict(json.loads(row.partition)),
        status=JobStatus(row.status),
        rows_in=int(row.rows_in),
        rows_out=int(row.rows_out),
        rows_rejected=int(row.rows_rejected),
        started_at=row.started_at,
        ended_at=row.ended_at,
        error=row.error,
        created_by=row.created_by,
        trigger=row.trigger,
        files=tuple(json.loads(row.files)),
        heartbeat_at=row.heartbeat_at,
    )


class SqlBatchJobStore:
    """Batch job runs on the metadata database (``usina.batch.base.BatchJobStore``).

    Readers fail a running job whose heartbeat is older than ``heartbeat_timeout`` seconds
    (a compare-and-set in the database, as tracking fails stale runs), so every reader agrees.
    """

    def __init__(self, db: Database, actor: str = "local", heartbeat_timeout: float = 60.0) -> None:
        self.db = db
        self.actor = actor
        self.heartbeat_timeout = heartbeat_timeout

    def start(self, job: JobStart) -> BatchJob:
        job = check_start(job)

        def tx(conn: Connection) -> BatchJob:
            if conn.execute(
                sa.select(t.batch_jobs.c.id).where(t.batch_jobs.c.id == job.id)
            ).first():
                raise Conflict(f"batch job {job.id} is already recorded", field="id")
            now = time.time()
            conn.execute(
                t.batch_jobs.insert().values(
                    id=job.id,
                    name=job.name,
                    model_uri=job.model_uri,
                    model=job.model,
                    version=job.version,
                    input=job.input,
                    output=job.output,
                    partition=json.dumps(job.partition),
                    status=JobStatus.RUNNING.value,
                    rows_in=0,
                    rows_out=0,
                    rows_rejected=0,
                    started_at=now,
                    heartbeat_at=now,
                    ended_at=None,
                    error="",
                    files="[]",
                    trigger=job.trigger[:512],
                    created_by=self.actor,
                )
            )
            return self._load(conn, job.id)

        return self.db.write(tx)

    def finish(self, job_id: str, end: JobEnd) -> BatchJob:
        check_job_id(job_id)
        end = check_end(end)

        def tx(conn: Connection) -> BatchJob:
            current = self._load(conn, job_id)
            if current.status is not JobStatus.RUNNING:
                raise Conflict(
                    f"batch job {job_id} already ended ({current.status.value})", field="id"
                )
            conn.execute(
                t.batch_jobs.update()
                .where(t.batch_jobs.c.id == job_id)
                .values(
                    status=end.status.value,
                    rows_in=end.rows_in,
                    rows_out=end.rows_out,
                    rows_rejected=end.rows_rejected,
                    error=end.error,
                    files=json.dumps(list(end.files)),
                    ended_at=time.time(),
                )
            )
            return self._load(conn, job_id)

        return self.db.write(tx)

    def heartbeat(self, job_id: str) -> None:
        """Mark the running job alive; ``NotFound`` if there is no such job. A job that has
        ended (or was failed as stale) is left as it is."""
        check_job_id(job_id)

        def tx(conn: Connection) -> None:
            self._load(conn, job_id)
            c = t.batch_jobs.c
            conn.execute(
                t.batch_jobs.update()
                .where(c.id == job_id, c.status == JobStatus.RUNNING.value)
                .values(heartbeat_at=time.time())
            )

        self.db.write(tx)

    def fail_stale_jobs(self) -> int:
        """Mark failed every running job whose heartbeat is older than the timeout; returns
        how many. Each update re-checks status and heartbeat, so a job that beat or ended in
        between is left alone."""
        c = t.batch_jobs.c
        cutoff = time.time() - self.heartbeat_timeout
        stale = sa.and_(c.status == JobStatus.RUNNING.value, c.heartbeat_at < cutoff)
        with self.db.read() as conn:
            found = conn.execute(sa.select(c.id, c.heartbeat_at).where(stale)).all()
        if not found:
            return 0

        def tx(conn: Connection) -> int:
            failed = 0
            for job_id, beat in found:
                result = conn.execute(
                    t.batch_jobs.update()
                    .where(c.id == job_id, stale)
                    .values(status=JobStatus.FAILED.value, ended_at=beat, error=stale_error(beat))
                )
                failed += int(result.rowcount or 0)
            return failed

        return self.db.write(tx)

    def get(self, job_id: str) -> BatchJob:
        check_job_id(job_id)
        self.fail_stale_jobs()
        with self.db.read() as conn:
            return self._load(conn, job_id)

    def list(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[BatchJob]:
        found = check_list_filters(name, status, limit, offset)
        c = t.batch_jobs.c
        query = sa.select(t.batch_jobs).order_by(c.started_at.desc(), c.id).limit(limit)
        query = query.offset(offset)
        if name is not None:
            query = query.where(c.name == name)
        if found is not None:
            query = query.where(c.status == found.value)
        self.fail_stale_jobs()
        with self.db.read() as conn:
            return [job_from_row(r) for r in conn.execute(query)]

    @staticmethod
    def _load(conn: Connection, job_id: str) -> BatchJob:
        row = conn.execute(sa.select(t.batch_jobs).where(t.batch_jobs.c.id == job_id)).first()
        if row is None:
            raise NotFound(f"no batch job {job_id}; 'usina batch jobs' lists them", field="id")
        return job_from_row(row)
