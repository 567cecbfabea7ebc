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
    )


class SqlBatchJobStore:
    """Batch job runs on the metadata database (``usina.batch.base.BatchJobStore``)."""

    def __init__(self, db: Database, actor: str = "local") -> None:
        self.db = db
        self.actor = actor

    def start(self, job: JobStart) -> BatchJob:
        job = check_start(job)

        def tx(conn: Connection) -> BatchJob:
            if conn.execute(
                sa.select(t.batch_jobs.c.id).where(t.batch_jobs.c.id == job.id)
            ).first():
                raise Conflict(f"batch job {job.id} is already recorded", field="id")
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
                    started_at=time.time(),
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

    def get(self, job_id: str) -> BatchJob:
        check_job_id(job_id)
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
        with self.db.read() as conn:
            return [job_from_row(r) for r in conn.execute(query)]

    @staticmethod
    def _load(conn: Connection, job_id: str) -> BatchJob:
        row = conn.execute(sa.select(t.batch_jobs).where(t.batch_jobs.c.id == job_id)).first()
        if row is None:
            raise NotFound(f"no batch job {job_id}; 'usina batch jobs' lists them", field="id")
        return job_from_row(row)
