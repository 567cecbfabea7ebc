"""The batch job store protocol: ``SqlBatchJobStore`` on the database, ``HttpBatchJobStore``
on a server. Both pass ``usina.testing.check_batch_job_store``.

Example:
    >>> from usina.batch.entities import JobEnd, JobStart, JobStatus
    >>> from usina.batch.sql import SqlBatchJobStore
    >>> from usina.store import Database
    >>> store = SqlBatchJobStore(Database("sqlite://"))
    >>> job = store.start(JobStart("a" * 32, "nightly", "models:/m@champion", "m", 3,
    ...                            "in.parquet", "scores", {"run_date": "2026-12-01"}))
    >>> store.finish(job.id, JobEnd(JobStatus.SUCCEEDED, rows_in=10, rows_out=10)).status
    <JobStatus.SUCCEEDED: 'succeeded'>
"""

from __future__ import annotations

import builtins
from typing import Protocol

from usina.batch.entities import BatchJob, JobEnd, JobStart


class BatchJobStore(Protocol):
    """Runs of batch jobs: recorded when they start, while they run, and when they end."""

    heartbeat_timeout: float

    def start(self, job: JobStart) -> BatchJob:
        """Record a job that starts now, ``running``; ``Conflict`` if its id exists."""
        ...

    def finish(self, job_id: str, end: JobEnd) -> BatchJob:
        """Record how a running job ended; ``Conflict`` if it already ended."""
        ...

    def heartbeat(self, job_id: str) -> None:
        """Mark a running job alive (its process calls this every few seconds); a job whose
        heartbeat is older than ``heartbeat_timeout`` is read as ``failed``. ``NotFound`` if
        absent; an ended job is left as it is."""
        ...

    def get(self, job_id: str) -> BatchJob:
        """One job; ``NotFound`` if absent."""
        ...

    def list(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[BatchJob]:
        """Jobs, newest first, filtered exactly by name and status."""
        ...
