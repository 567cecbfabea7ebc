"""The recorder: events from the request path written in batches off it, within a bound, and
every loss counted and said."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from resources.waiting import wait_until
from usina.audit import AuditEvent, AuditRecorder, SqlAuditStore
from usina.store import Database


def event(i: int, **change: object) -> AuditEvent:
    fields: dict[str, object] = {
        "actor": "svc-inference",
        "action": "usina.endpoints.predict",
        "resource": "endpoints/credit",
        "decision": "allow",
        "status": 200,
        "request_id": f"r{i}",
    }
    return AuditEvent(**{**fields, **change})  # type: ignore[arg-type]


@pytest.fixture
def store(db_url: str) -> Iterator[SqlAuditStore]:
    db = Database(db_url)
    db.migrate()
    yield SqlAuditStore(db)
    db.dispose()


def counted(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(f"usina_audit_records_{name}_total", labels) or 0.0


def test_events_are_written_in_batches_and_flushed_on_close(store: SqlAuditStore) -> None:
    registry = CollectorRegistry()
    recorder = AuditRecorder(store, max_batch=100, flush_interval=5.0, registry=registry).start()
    assert all(recorder.record(event(i)) for i in range(1050))
    # Full batches go at once, without waiting for the interval.
    wait_until(lambda: recorder.written >= 1000, 30, "the full batches to be written")
    recorder.close()
    assert (recorder.written, recorder.dropped, recorder.queued) == (1050, 0, 0)
    assert counted(registry, "written") == 1050 and counted(registry, "dropped") == 0
    verification = store.verify()
    assert verification.ok and verification.checked == 1050
    ids = [r.request_id for r in reversed(store.list(limit=2000))]
    assert ids == [f"r{i}" for i in range(1050)], "in the order recorded"


def test_flush_writes_what_is_queued_before_the_interval(store: SqlAuditStore) -> None:
    recorder = AuditRecorder(store, flush_interval=60.0).start()
    recorder.record(event(0, time=1_700_000_000.0))
    assert recorder.flush(timeout=30)
    assert [(r.request_id, r.time) for r in store.list()] == [("r0", 1_700_000_000.0)]
    recorder.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_full_queue_blocks_briefly_then_counts_and_logs_each_loss(
    store: SqlAuditStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    recorder = AuditRecorder(
        store, max_queued=10, max_batch=5, flush_interval=0.01, block=0.01, registry=registry
    ).start()
    # Another writer holds the database: the recorder's first batch waits for it.
    holder = sqlite3.connect(tmp_path / "usina.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        recorder.record(event(0))
        wait_until(lambda: recorder.queued == 0, 10, "the writer to take the first event")
        assert all(recorder.record(event(i)) for i in range(1, 11)), "room for max_queued"
        with caplog.at_level(logging.ERROR, logger="usina.audit"):
            assert not any(recorder.record(event(i)) for i in range(11, 16))
        assert recorder.dropped == 5 and recorder.queued == 10
        assert counted(registry, "dropped", reason="queue_full") == 5
        assert "LOST 1 audit records (queue_full); 1 lost since start" in caplog.text
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # Nothing queued is lost once the database answers again.
    recorder.close()
    assert (recorder.written, recorder.dropped) == (11, 5)
    assert counted(registry, "written") == 11
    assert [r.request_id for r in reversed(store.list())] == [f"r{i}" for i in range(11)]
    assert store.verify().ok


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_what_a_stop_cannot_write_is_counted(
    store: SqlAuditStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    recorder = AuditRecorder(store, max_batch=1, flush_interval=0.01, registry=registry).start()
    holder = sqlite3.connect(tmp_path / "usina.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        recorder.record(event(0))
        wait_until(lambda: recorder.queued == 0, 10, "the writer to take the first event")
        recorder.record(event(1))
        recorder.record(event(2))
        with caplog.at_level(logging.ERROR, logger="usina.audit"):
            recorder.close(timeout=0.2)
        assert counted(registry, "dropped", reason="stopped") == 2
        assert "LOST 2 audit records (stopped)" in caplog.text
        assert not recorder.record(event(3)), "a closed recorder takes nothing"
        assert counted(registry, "dropped", reason="stopped") == 3
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # The batch that was being written when the stop came is written, and counted so.
    wait_until(lambda: recorder.written == 1, 30, "the batch in flight to be written")
    assert [r.request_id for r in store.list()] == ["r0"]


def test_a_malformed_event_is_counted_and_the_rest_written(
    store: SqlAuditStore, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    recorder = AuditRecorder(store, flush_interval=60.0, registry=registry).start()
    recorder.record(event(0))
    recorder.record(event(1, details={"password": "hunter2"}))
    recorder.record(event(2))
    with caplog.at_level(logging.ERROR, logger="usina.audit"):
        assert recorder.flush(timeout=30)
    recorder.close()
    assert counted(registry, "dropped", reason="invalid") == 1
    assert "details key 'password' names a secret" in caplog.text
    assert "hunter2" not in caplog.text, "a refused secret is not logged either"
    assert [r.request_id for r in reversed(store.list())] == ["r0", "r2"]
