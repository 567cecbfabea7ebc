"""What the batch job store returns: frozen records, and the checks on what it is given."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from usina.errors import InvalidInput

_ID = re.compile(r"[0-9a-f]{32}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")


class JobStatus(StrEnum):
    """Where a batch job is: running, then succeeded or failed."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class BatchJob:
    """One run of a batch job: what it scored with, from where, into where, and how it went.

    ``version`` is the version ``model_uri`` pointed at when the job started; every row the job
    wrote carries it. A running job's process beats ``heartbeat_at`` every few seconds; a job
    whose heartbeat is older than the installation's ``heartbeat_timeout`` is read as
    ``failed`` (its process was killed), with ``ended_at`` its last heartbeat.
    """

    id: str
    name: str
    model_uri: str
    model: str
    version: int
    input: str
    output: str
    partition: dict[str, str]
    status: JobStatus
    rows_in: int
    rows_out: int
    rows_rejected: int
    started_at: float
    ended_at: float | None
    error: str
    created_by: str
    trigger: str = ""
    files: tuple[str, ...] = field(default_factory=tuple)
    heartbeat_at: float | None = None


@dataclass(frozen=True)
class JobStart:
    """What a job records when it starts."""

    id: str
    name: str
    model_uri: str
    model: str
    version: int
    input: str
    output: str
    partition: dict[str, str]
    trigger: str = ""


@dataclass(frozen=True)
class JobEnd:
    """What a job records when it ends."""

    status: JobStatus
    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    error: str = ""
    files: tuple[str, ...] = ()


def stale_error(heartbeat_at: float) -> str:
    """The error of a job whose process stopped beating at ``heartbeat_at``."""
    import datetime as dt

    when = dt.datetime.fromtimestamp(heartbeat_at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"the job's process stopped sending heartbeats at {when} (it was killed, or lost its "
        "connection); run the job again"
    )


def check_job_id(value: Any) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidInput(
            f"batch job id {value!r} is not valid (32 hex digits); 'usina batch jobs' lists them",
            field="id",
        )
    return value


def check_job_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput(
            f"batch job name {value!r} is not valid; use letters, digits and '._-' (starting "
            "with a letter or digit, at most 128 characters)",
            field="name",
        )
    return value


def check_status(value: Any) -> JobStatus | None:
    if value is None:
        return None
    try:
        return JobStatus(value)
    except ValueError:
        raise InvalidInput(
            f"status {value!r} is not one of running, succeeded, failed", field="status"
        ) from None


def check_start(start: JobStart) -> JobStart:
    check_job_id(start.id)
    check_job_name(start.name)
    for name in ("model_uri", "model", "input", "output"):
        value = getattr(start, name)
        if not isinstance(value, str) or not value or len(value) > 4096:
            raise InvalidInput(f"{name} must be a non-empty string", field=name)
    if isinstance(start.version, bool) or not isinstance(start.version, int) or start.version < 1:
        raise InvalidInput(f"version {start.version!r} is not a positive integer", field="version")
    if not isinstance(start.partition, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in start.partition.items()
    ):
        raise InvalidInput("partition must map column names to strings", field="partition")
    return start


def check_end(end: JobEnd) -> JobEnd:
    status = check_status(end.status)
    if status is None or status is JobStatus.RUNNING:
        raise InvalidInput("a job ends as succeeded or failed", field="status")
    for name in ("rows_in", "rows_out", "rows_rejected"):
        value = getattr(end, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(f"{name} must be a count (0 or more)", field=name)
    return JobEnd(
        status, end.rows_in, end.rows_out, end.rows_rejected, end.error[:4000], tuple(end.files)
    )


def check_list_filters(name: Any, status: Any, limit: int, offset: int) -> JobStatus | None:
    """Check the filters and page of a job list (both stores, so both answer alike); returns
    the status asked for."""
    from usina.store.paging import check_page

    if name is not None:
        check_job_name(name)
    found = check_status(status)
    check_page(limit, offset)
    return found
