"""The contract of a batch job store, as a function any backend's tests call: a job recorded
running with the version it resolved, kept alive by heartbeats, ended once as succeeded or
failed with its counts, listed newest first and filtered, and bad input refused naming its
field with nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from usina.batch.entities import JobEnd, JobStart, JobStatus
from usina.errors import Conflict, InvalidInput, NotFound
from usina.testing.tracking import expect_error


def _start(n: int, name: str = "nightly", **change: Any) -> JobStart:
    fields: dict[str, Any] = {
        "id": f"{n:032x}",
        "name": name,
        "model_uri": "models:/credit-risk@champion",
        "model": "credit-risk",
        "version": 3,
        "input": "select * from applicants",
        "output": "credit_scores",
        "partition": {"run_date": "2026-12-01"},
        "trigger": "",
        **change,
    }
    return JobStart(**fields)


def check_batch_job_store(make_client: Callable[[], Any]) -> None:
    """Assert that ``make_client().batch`` (a fresh, empty installation) keeps the batch job
    store's contract.

    Args:
        make_client: a factory of ``usina.Client`` objects on one empty installation.
    """
    store = make_client().batch
    assert store.list() == []

    first = store.start(_start(1))
    assert first.status is JobStatus.RUNNING
    assert (first.model, first.version, first.partition) == (
        "credit-risk",
        3,
        {"run_date": "2026-12-01"},
    )
    assert (first.rows_in, first.ended_at, first.error, first.files) == (0, None, "", ())
    assert first.heartbeat_at is not None and first.heartbeat_at >= first.started_at
    assert store.get(first.id) == first
    store.heartbeat(first.id)
    beaten = store.get(first.id)
    assert beaten.status is JobStatus.RUNNING
    assert beaten.heartbeat_at is not None and beaten.heartbeat_at >= first.heartbeat_at
    first = beaten
    expect_error(Conflict, lambda: store.start(_start(1)), "id")

    files = ("tables/credit_scores/run_date=2026-12-01/part-1-00000.parquet",)
    ended = store.finish(first.id, JobEnd(JobStatus.SUCCEEDED, 10, 9, 1, "", files))
    assert ended.status is JobStatus.SUCCEEDED
    assert (ended.rows_in, ended.rows_out, ended.rows_rejected, ended.files) == (10, 9, 1, files)
    assert ended.ended_at is not None and ended.ended_at >= ended.started_at
    expect_error(Conflict, lambda: store.finish(first.id, JobEnd(JobStatus.FAILED)), "id")
    store.heartbeat(first.id)  # a late heartbeat of an ended job changes nothing
    assert store.get(first.id) == ended

    second = store.start(_start(2, name="weekly", trigger="schedule:weekly@2026-12-01T03:00:00Z"))
    failed = store.finish(
        second.id, JobEnd(JobStatus.FAILED, error="input column 'age' is missing")
    )
    assert failed.error == "input column 'age' is missing"
    assert failed.trigger.startswith("schedule:weekly@")
    running = store.start(_start(3))

    assert [j.id for j in store.list()] == [running.id, second.id, first.id]
    assert [j.id for j in store.list(name="nightly")] == [running.id, first.id]
    assert [j.id for j in store.list(status="failed")] == [second.id]
    assert [j.id for j in store.list(limit=1, offset=1)] == [second.id]

    expect_error(NotFound, lambda: store.get("f" * 32), "id")
    expect_error(NotFound, lambda: store.finish("f" * 32, JobEnd(JobStatus.FAILED)), "id")
    expect_error(InvalidInput, lambda: store.get("nope"), "id")
    expect_error(NotFound, lambda: store.heartbeat("f" * 32), "id")
    expect_error(InvalidInput, lambda: store.heartbeat("nope"), "id")
    expect_error(InvalidInput, lambda: store.list(status="done"), "status")
    expect_error(InvalidInput, lambda: store.start(_start(4, name="bad name")), "name")
    expect_error(InvalidInput, lambda: store.start(_start(5, version=0)), "version")
    expect_error(
        InvalidInput, lambda: store.finish(running.id, JobEnd(JobStatus.RUNNING)), "status"
    )
    expect_error(
        InvalidInput,
        lambda: store.finish(running.id, JobEnd(JobStatus.FAILED, rows_in=-1)),
        "rows_in",
    )
    assert len(store.list()) == 3
    assert store.get(running.id).status is JobStatus.RUNNING
