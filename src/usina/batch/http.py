"""Batch job runs kept by a usina server, through its REST API: the same protocol as
``SqlBatchJobStore`` (which the server runs), the same checks before anything is sent."""

from __future__ import annotations

import builtins
from typing import Any

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
from usina.connection import ServerConnection

PAGE = 1000


def job_from_json(d: dict[str, Any]) -> BatchJob:
    return BatchJob(
        **{
            **d,
            "status": JobStatus(d["status"]),
            "partition": dict(d["partition"]),
            "files": tuple(d["files"]),
        }
    )


class HttpBatchJobStore:
    """Batch jobs on the server ``server`` talks to (``usina.batch.base.BatchJobStore``)."""

    def __init__(self, server: ServerConnection, heartbeat_timeout: float = 60.0) -> None:
        self.server = server
        # The server's own timeout decides when a job is stale; this paces the heartbeats.
        self.heartbeat_timeout = heartbeat_timeout

    def start(self, job: JobStart) -> BatchJob:
        job = check_start(job)
        return job_from_json(self.server.call("POST", "/batch/jobs", json=job.__dict__))

    def finish(self, job_id: str, end: JobEnd) -> BatchJob:
        check_job_id(job_id)
        end = check_end(end)
        body = {**end.__dict__, "status": end.status.value, "files": list(end.files)}
        return job_from_json(self.server.call("POST", f"/batch/jobs/{job_id}/end", json=body))

    def heartbeat(self, job_id: str) -> None:
        check_job_id(job_id)
        self.server.call("POST", f"/batch/jobs/{job_id}/heartbeat")

    def get(self, job_id: str) -> BatchJob:
        check_job_id(job_id)
        return job_from_json(self.server.call("GET", f"/batch/jobs/{job_id}"))

    def list(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[BatchJob]:
        found = check_list_filters(name, status, limit, offset)
        params: dict[str, Any] = {"name": name, "status": None if found is None else found.value}
        jobs: builtins.list[BatchJob] = []
        while len(jobs) < limit:
            want = min(PAGE, limit - len(jobs))
            page = self.server.call(
                "GET", "/batch/jobs", params={**params, "limit": want, "offset": offset}
            )
            jobs.extend(job_from_json(j) for j in page["items"])
            if page["next_offset"] is None:
                break
            offset = page["next_offset"]
        return jobs
