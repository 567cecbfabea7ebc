"""The request log's files: rows gather for a file interval (USINA_REQUEST_LOG_FILE_MS) and are
written as one file per endpoint and interval, sooner when half the buffer waits, and at once
on a graceful stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resources.waiting import wait_until
from serving.test_request_log import _ids_in, _rows


def _files(store: Any) -> list[str]:
    return [k for k in store.list("request-log/") if k.endswith(".parquet")]


def test_hand_overs_within_a_file_interval_make_one_file(tmp_path: Path) -> None:
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    store = open_artifact_store(str(tmp_path / "artifacts"))
    # An interval no test run reaches: only the stop can write these rows.
    log = RequestLog(store, flush_interval=3600, file_interval=3600, out_of_process=True)
    log.start()
    assert log._process is not None
    for start in (0, 300, 600):  # three hand-overs, as three flush intervals would make
        for row in _rows(300, start=start):
            log.append(row)
        assert log.flush() == 300
    wait_until(lambda: log._handed.total() == 900, 30, "the writer to take the three batches")
    assert _files(store) == [], "rows are written once their interval has passed, not before"
    log.close()
    assert len(_files(store)) == 1, "a stop writes what the writer holds, as one file"
    assert _ids_in(store) == {f"r{i}" for i in range(900)}
    assert log.written == 900


def test_rows_reach_the_store_once_their_interval_has_passed(tmp_path: Path) -> None:
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    store = open_artifact_store(str(tmp_path / "artifacts"))
    log = RequestLog(store, flush_interval=0.05, file_interval=0.5, out_of_process=True)
    log.start()
    try:
        for row in _rows(200):
            log.append(row)
        wait_until(lambda: log.written == 200, 30, "the writer to write the rows on its own")
        assert _ids_in(store) == {f"r{i}" for i in range(200)}
    finally:
        log.close()


def test_half_a_full_buffer_is_written_without_waiting_for_the_interval(tmp_path: Path) -> None:
    from usina.artifacts import open_artifact_store
    from usina.serving.logsink import LogSink

    store = open_artifact_store(str(tmp_path / "artifacts"))
    sink = LogSink(store, "t", max_buffered=100, file_interval=3600)
    assert sink.wait_time() is None, "nothing to write"
    sink.add(_rows(49))
    wait = sink.wait_time()
    assert wait is not None and wait > 3000
    assert sink.write() == 0, "not due: the rows gather"
    assert _files(store) == []
    sink.add(_rows(1, start=49))
    assert sink.wait_time() == 0.0, "half of max_buffered waits: due at once"
    assert sink.write() == 50
    assert len(_files(store)) == 1
    assert sink.wait_time() is None


def test_a_failing_store_is_retried_at_its_backoff_not_the_interval(tmp_path: Path) -> None:
    from usina.artifacts import open_artifact_store
    from usina.serving.logsink import LogSink

    down = tmp_path / "down"
    down.write_bytes(b"a file where the store's folder should be")
    store = open_artifact_store(str(down))
    sink = LogSink(store, "t", max_buffered=100, file_interval=3600, retry_min=0.05)
    sink.add(_rows(10))
    assert sink.write(force=True) == 0 and sink.failing
    wait = sink.wait_time()
    assert wait is not None and wait <= 0.05, "the retry is due at its backoff"
    down.unlink()
    wait_until(lambda: sink.write() == 10, 30, "the retry to write once the store is back")
    assert not sink.failing and len(_files(store)) == 1
