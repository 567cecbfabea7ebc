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


def test_batches_wait_as_they_came_and_the_buffer_bound_holds(tmp_path: Path) -> None:
    """The writer keeps each batch from the worker as the bytes that came down the pipe until
    it writes them: the rows still count against the buffer, those beyond it are dropped and
    counted by key, a failed write keeps the rest, and the file holds each kept row once."""
    import io
    from collections import Counter

    from usina.artifacts import open_artifact_store
    from usina.serving.logfiles import pack_rows
    from usina.serving.logpipe import END_OF_BATCH, _frame, frame_table, read_frames
    from usina.serving.logsink import LogSink, Undecoded

    pipe = b"".join(_frame(pack_rows(_rows(40, start=s)), 40) for s in (0, 40, 80))
    frames = list(read_frames(io.BytesIO(pipe + END_OF_BATCH)))
    assert [f.rows for f in frames] == [40, 40, 40, 0] and frames[-1].end
    down = tmp_path / "down"
    down.write_bytes(b"a file where the store's folder should be")
    dropped: Counter[tuple[str, int, bool, str]] = Counter()

    def on_dropped(counts: Counter[tuple[str, int, bool]], reason: str) -> None:
        dropped.update({(*key, reason): n for key, n in counts.items()})

    sink = LogSink(
        open_artifact_store(str(down)), "t", max_buffered=100, file_interval=3600,
        on_dropped=on_dropped,
    )  # fmt: skip
    for frame in frames[:3]:
        assert frame.data is not None
        sink.add_table(Undecoded(frame.rows, lambda data=frame.data: frame_table(data)))
    assert sink.pending == 100
    assert dropped == {("credit", 1, False, "queue_full"): 20}, "the third batch's last 20"
    assert sink.write(force=True) == 0 and sink.failing
    assert sink.pending == 100, "a failed write loses nothing"
    down.unlink()
    store = open_artifact_store(str(down))
    sink.store = store
    assert sink.write(force=True) == 100
    assert _ids_in(store) == {f"r{i}" for i in range(100)}
    assert sink.pending == 0
