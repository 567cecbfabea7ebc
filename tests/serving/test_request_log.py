"""The request log: every sampled request after a graceful stop, sampling per endpoint, the
documented SIGKILL bound, and SQL over it from the command line."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest

from resources.fast_http import FastClient
from resources.waiting import wait_until
from serving.conftest import child_pids, run_usina, usina_json
from usina.serving import endpoint_stats, query_log

PATH = "/v1/endpoints/credit:predict"


def _send(http: FastClient, request_id: str) -> int:
    http.conn.request(
        "POST",
        PATH,
        orjson.dumps({"instances": [{"age": 30, "income": 5.0, "debt": 1.0}]}),
        {"Content-Type": "application/json", "x-request-id": request_id},
    )
    response = http.conn.getresponse()
    response.read()
    return response.status


def _logged_ids(client) -> set[str]:  # type: ignore[no-untyped-def]
    rows = query_log(client.artifacts, "select request_id from requests where not shadow").rows
    return {r[0] for r in rows}


@pytest.mark.slow
def test_every_sampled_request_is_logged_after_a_graceful_stop(three_versions, usina_serve) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk@champion")
    served = usina_serve(client, workers=2, USINA_REQUEST_LOG_FLUSH_MS="60000")
    ids = [f"graceful-{i}" for i in range(150)]
    for request_id in ids:
        http = FastClient(served.url)  # new connections spread the requests over both workers
        assert _send(http, request_id) == 200
        http.close()
    assert served.process is not None
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(60) == 0
    # The flush interval is a minute, so only the shutdown flush can have written these.
    assert _logged_ids(client) == set(ids)
    rows = query_log(
        client.artifacts,
        "select distinct endpoint, model, version, protocol, status, inputs, outputs from requests",
    ).rows
    assert rows == [
        (
            "credit",
            "credit-risk",
            1,
            "vertex",
            200,
            '[{"age":30.0,"income":5.0,"debt":1.0}]',
            "[10]",
        )
    ]


def test_sampling_is_per_endpoint(three_versions, serve) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk/1", sample_rate=0.0)
    store.create("half", "models:/credit-risk/2", sample_rate=0.5)
    served = serve(client)
    http = FastClient(served.url)
    body = orjson.dumps({"instances": [[30, 5.0, 1.0]]})
    for _ in range(400):
        assert http.post("/v1/endpoints/credit:predict", body)[0] == 200
        assert http.post("/v1/endpoints/half:predict", body)[0] == 200
    http.close()
    served.stop()
    counts = dict(
        query_log(client.artifacts, "select endpoint, count(*) from requests group by 1").rows
    )
    assert "credit" not in counts
    assert 120 <= counts["half"] <= 280  # 400 draws at p=0.5: 8 standard deviations either way


@pytest.mark.slow
def test_sigkill_loses_at_most_the_documented_tail(three_versions, usina_serve, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Documented bound: a SIGKILL of a worker loses the newest rows, those it still held: at
    most the rows of the last flush interval plus one batch (here 200 + 100, so MAX_QUEUED is
    set to 300). When its writer falls behind, the rows beyond are dropped and counted instead
    of piling up; the rows it refused since its last hand-over are lost with it too."""
    client, store = three_versions
    store.create("credit", "models:/credit-risk@champion")
    flush_s, max_rows, max_queued = 0.2, 100, 300
    served = usina_serve(
        client,
        USINA_REQUEST_LOG_FLUSH_MS=str(int(flush_s * 1000)),
        USINA_REQUEST_LOG_MAX_ROWS=str(max_rows),
        USINA_REQUEST_LOG_MAX_QUEUED=str(max_queued),
    )
    assert served.process is not None
    [writer] = child_pids(served.process.pid)
    http = FastClient(served.url)
    ids: list[str] = []
    start = time.monotonic()
    while time.monotonic() - start < 3.0:
        request_id = f"kill-{len(ids)}"
        assert _send(http, request_id) == 200
        ids.append(request_id)
    served.process.send_signal(signal.SIGKILL)
    served.process.wait(30)
    http.close()
    # The writer process outlives the worker: it writes what it was handed, then exits.
    _wait_for(lambda: _exited(writer), "the writer process has exited", timeout=60)
    logged = _logged_ids(client)
    assert logged <= set(ids)
    missing = [rid for rid in ids if rid not in logged]
    counted = sum(sum(s.dropped.values()) for s in endpoint_stats(client.artifacts, "credit"))
    newest = 0  # the missing rows at the very end: those the worker held when killed
    while newest < len(missing) and missing[-1 - newest] == ids[-1 - newest]:
        newest += 1
    assert len(missing) - newest <= counted, "rows missing before the newest were counted"
    said = (tmp_path / f"serve-{served.url.rsplit(':', 1)[1]}.log").read_text()
    if "the queue is full" not in said:  # nothing refused: the worker held every newest row
        assert newest <= max_queued, (newest, len(ids))


def _exited(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie nobody reaped counts)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_usina_logs_query_runs_sql(three_versions, serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk@champion")
    served = serve(client)
    http = FastClient(served.url)
    for i in range(5):
        assert _send(http, f"q{i}") == 200
    http.close()
    served.stop()
    out = usina_json(
        client,
        "logs",
        "query",
        "select count(*) as n, max(version) as v from requests",
        cwd=tmp_path,
    )
    assert out == [{"n": 5, "v": 1}]
    bad = run_usina(client, "logs", "query", "select nope from requests", cwd=tmp_path)
    assert bad.returncode == 2
    assert b"nope" in bad.stderr


def test_rows_land_in_the_partition_of_their_utc_day_in_chunks(tmp_path: Path) -> None:
    from usina.artifacts import open_artifact_store
    from usina.serving.logfiles import CHUNK_ROWS
    from usina.serving.requestlog import RequestLog

    store = open_artifact_store(str(tmp_path / "artifacts"))
    log = RequestLog(store)
    midnight = 1_764_201_600.0  # 2025-11-27T00:00:00Z
    times = [midnight - 0.05] * (CHUNK_ROWS * 3 + 5) + [midnight + 0.05] * 7
    for row in _rows(len(times), times=times):
        log.append(row)
    assert log.flush() == len(times)
    days = {}
    for key in store.list("request-log/endpoint=credit/"):
        day = key.split("/")[2]
        days[day] = days.get(day, 0) + 1
    assert sorted(days) == ["date=2025-11-26", "date=2025-11-27"]
    result = query_log(
        store,
        "select cast(time as date)::varchar, count(*), min(inputs) from requests "
        "group by 1 order by 1",
    )
    assert [row[:2] for row in result.rows] == [
        ("2025-11-26", CHUNK_ROWS * 3 + 5),
        ("2025-11-27", 7),
    ]
    assert orjson.loads(result.rows[0][2]) == [{"age": 30}]


def _rows(n: int, start: int = 0, times: list[float] | None = None) -> list[Any]:
    """``n`` logged requests ``r{start}``, ``r{start + 1}``, ...; answered now unless
    ``times`` says when."""
    from usina.serving.requestlog import LogRow

    return [
        LogRow(
            f"r{start + i}",
            times[i] if times is not None else time.time(),
            "credit",
            "credit-risk",
            1,
            False,
            "vertex",
            200,
            0.4,
            (("age",), b"[[30]]"),
            b"[1]",
            None,
        )
        for i in range(n)
    ]


def _ids_in(store: Any) -> set[str]:
    result = query_log(store, "select request_id from requests")
    return {row[0] for row in result.rows}


def test_the_writer_process_writes_every_row_and_exits_on_close(tmp_path: Path) -> None:
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    store = open_artifact_store(str(tmp_path / "artifacts"))
    log = RequestLog(store, flush_interval=0.05, out_of_process=True)
    log.start()
    process = log._process
    assert process is not None, "a folder store gets a writer process"
    for row in _rows(1500):
        log.append(row)
    # A batch crosses the pipe and is written while rows keep coming.
    wait_until(lambda: _ids_in(store), 30, "the writer process to write a first batch")
    for row in _rows(700, start=1500):
        log.append(row)
    log.close()
    assert process.returncode == 0
    assert _ids_in(store) == {f"r{i}" for i in range(2200)}


def test_rows_are_written_here_when_the_writer_process_is_gone(tmp_path: Path) -> None:
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    store = open_artifact_store(str(tmp_path / "artifacts"))
    log = RequestLog(store, flush_interval=3600, out_of_process=True)
    log.start()
    assert log._process is not None
    log._process.kill()
    log._process.wait()
    for row in _rows(50):
        log.append(row)
    assert log.flush() == 50
    assert log._process is None
    log.close()
    assert _ids_in(store) == {f"r{i}" for i in range(50)}


def test_a_store_another_process_cannot_open_is_written_in_process() -> None:
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    store = open_artifact_store("memory://request-log-test")
    log = RequestLog(store, out_of_process=True)
    log.start()
    assert log._process is None
    for row in _rows(10):
        log.append(row)
    log.close()
    assert _ids_in(store) == {f"r{i}" for i in range(10)}


def test_a_full_queue_drops_new_rows_and_counts_them(tmp_path: Path) -> None:
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    store = open_artifact_store(str(tmp_path / "artifacts"))
    log = RequestLog(store, max_queued=10)  # not started: nothing drains the queue
    for row in _rows(25):
        log.append(row)
    assert log.flush() == 10
    assert (log.logged, log.written, dict(log.dropped)) == (25, 10, {"queue_full": 15})
    assert _ids_in(store) == {f"r{i}" for i in range(10)}  # the oldest are kept
    for row in _rows(5, start=25):
        log.append(row)
    log.close()
    assert _ids_in(store) == {f"r{i}" for i in range(10)} | {f"r{i}" for i in range(25, 30)}
    [stats] = endpoint_stats(store, "credit")
    assert (stats.version, stats.requests, stats.dropped) == (1, 15, {"queue_full": 15})
    metrics = log.metrics.exposition().decode()
    assert 'usina_request_log_rows_logged_total{endpoint="credit"} 30.0' in metrics
    assert 'usina_request_log_rows_written_total{endpoint="credit"} 15.0' in metrics
    assert (
        'usina_request_log_rows_dropped_total{endpoint="credit",reason="queue_full"} 15.0'
        in metrics
    )


def test_the_usual_and_other_rows_share_the_queue_bound(tmp_path: Path) -> None:
    """Usual rows (kept as columns) and other rows (kept as tuples) count against one bound:
    whichever arrives once ``max_queued`` rows wait is dropped and counted; and ``max_rows``
    usual rows wake the hand-over as other rows do."""
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    store = open_artifact_store(str(tmp_path / "artifacts"))
    log = RequestLog(store, max_queued=10)  # not started: nothing drains the queue
    key = ("credit", "credit-risk", 1, "vertex", ("age",))
    for i in range(6):
        assert log.append_usual(key, f"u{i}", 0.4, np.array([[30.0]]), b"[1]")
    for row in _rows(6):
        log.append(row)
    for i in range(6, 9):
        assert log.append_usual(key, f"u{i}", 0.4, np.array([[30.0]]), b"[1]")
    assert log.flush() == 10
    assert (log.logged, log.written, dict(log.dropped)) == (15, 10, {"queue_full": 5})
    assert _ids_in(store) == {f"u{i}" for i in range(6)} | {f"r{i}" for i in range(4)}
    log.close()
    [stats] = endpoint_stats(store, "credit")
    assert (stats.requests, stats.dropped) == (10, {"queue_full": 5})

    woken = RequestLog(
        open_artifact_store(str(tmp_path / "woken")), flush_interval=3600, max_rows=4
    )
    woken.start()
    try:
        for i in range(4):
            woken.append_usual(key, f"w{i}", 0.4, np.array([[30.0]]), b"[1]")
        wait_until(lambda: woken.written == 4, 30, "max_rows usual rows to be written")
    finally:
        woken.close()


def test_usual_rows_appended_on_a_bound_loop_are_each_written_once(tmp_path: Path) -> None:
    """Serving binds the log to its event loop: requests append usual rows there without a
    lock, and the hand-over takes them on that loop between two callbacks. Appends racing
    hand-overs every few milliseconds lose no row and write none twice; a close on the loop's
    own thread while a hand-over waits on that loop neither hangs nor loses the rows."""
    import asyncio
    import sys
    import threading

    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    key = ("credit", "credit-risk", 1, "vertex", ("age", "income"))

    def waiting_on_the_loop(log: RequestLog) -> bool:
        thread = log._thread
        frame = sys._current_frames().get(thread.ident or 0) if thread else None
        while frame is not None and frame.f_code.co_name != "_taken":
            frame = frame.f_back
        return frame is not None

    async def serve(log: RequestLog, n: int, close_here: bool) -> None:
        log.start(asyncio.get_running_loop())
        assert "append_usual" in vars(log)  # bound: appends take no lock
        for i in range(n):
            assert log.append_usual(key, f"b{i}", 0.5, np.array([[i, 1.0]]), b"[1]")
            if i % 50 == 0:
                await asyncio.sleep(0.001)  # the loop runs the hand-over's callbacks here
        if close_here:
            log._wake.set()  # a hand-over now, which waits for this loop, blocked from here on
            wait_until(lambda: waiting_on_the_loop(log), 30, "the hand-over to wait on the loop")
            log.close()
        else:
            await asyncio.to_thread(log.close)  # as serving stops

    for close_here in (False, True):
        store = open_artifact_store(str(tmp_path / f"close-on-loop-{close_here}"))
        interval = 3600 if close_here else 0.002  # woken by max_rows rows and the test, or often
        log = RequestLog(store, flush_interval=interval, max_rows=30)
        failed: list[BaseException] = []

        def run(
            log: RequestLog = log,
            close_here: bool = close_here,
            failed: list[BaseException] = failed,
        ) -> None:
            try:
                asyncio.run(serve(log, 3000, close_here))
            except BaseException as exc:  # noqa: BLE001  # reported below
                failed.append(exc)

        loop_thread = threading.Thread(target=run, daemon=True)
        loop_thread.start()
        loop_thread.join(120)
        assert not loop_thread.is_alive(), f"hung (close on the loop's thread: {close_here})"
        assert not failed, failed
        assert (log.logged, log.written, sum(log.dropped.values())) == (3000, 3000, 0)
        assert sorted(query_log(store, "select request_id from requests").rows) == sorted(
            (f"b{i}",) for i in range(3000)
        )
        assert ("append_usual" in vars(log)) is not close_here  # closed on its thread: unbound


def test_usual_rows_are_stored_as_the_same_rows_queued_as_tuples(tmp_path: Path) -> None:
    """Serving queues the usual row (200, no shadow, raw float inputs, JSON outputs) as its
    fields in arrays, by key. Whether written by the writer process or in this process, what
    is stored is what the same rows queued as tuples give: ids (one holding NUL), latency,
    inputs of one row or several (arrays that are views of others too), outputs of any
    length, two keys; and the time of queueing.
    Inputs that are not a 2-D float64 array of the key's columns are left to the caller."""
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    names = ("age", "income")
    keys = [
        ("credit", "credit-risk", 1, "vertex", names),
        ("credit", "credit-risk", 2, "v2", names),
    ]
    requests = [
        (keys[i % 2], f"q{i}" if i != 3 else "q\x003", 0.25 * i, data, outputs)
        for i, (data, outputs) in enumerate(
            [
                (np.array([[30.0, 5.5]]), b"[1]"),
                (np.array([[31.0, -0.1], [1e300, 2.0]]), b"[0,1]"),
                (np.array([[0.1, 0.2]]), b'["yes"]'),
                (np.array([[1.0, 2.0]]), b"[[0.25,0.75]]"),
                (np.array([[5.0, 6.0]]), b"[1]"),
                (np.array([[7.0, 9.0, 8.0]])[:, ::2], b"[1]"),  # views, not C-contiguous
                (np.array([[1.0, 3.0], [2.0, 4.0]]).T, b"[0,0]"),
            ]
        )
    ]
    for out_of_process in (True, False):
        stores = [open_artifact_store(str(tmp_path / f"{out_of_process}-{s}")) for s in "ut"]
        usual, tuples = (RequestLog(s, out_of_process=out_of_process) for s in stores)
        for log in (usual, tuples):
            log.start()
        before = time.time()
        for key, request_id, latency, data, outputs in requests:
            assert usual.append_usual(key, request_id, latency, data, outputs)
            endpoint, model, version, protocol, columns = key
            tuples.append(
                (request_id, time.time(), endpoint, model, version, False, protocol, 200,
                 latency, (columns, data.tobytes(), 2), outputs, None)
            )  # fmt: skip
        after = time.time()
        assert not usual.append_usual(keys[0], "x", 0.1, np.array([[1, 2]]), b"[1]")  # int64
        assert not usual.append_usual(keys[0], "x", 0.1, np.array([[1.0, 2.0, 3.0]]), b"[1]")
        assert not usual.append_usual(keys[0], "x", 0.1, np.array([1.0, 2.0]), b"[1]")
        no_columns = ("credit", "credit-risk", 1, "vertex", ())
        assert not usual.append_usual(no_columns, "x", 0.1, np.empty((1, 0)), b"[1]")
        for log in (usual, tuples):
            log.close()
        query = "select * exclude (time), epoch_us(time) from requests order by request_id"
        got, expected = (query_log(s, query).rows for s in stores)
        assert len(got) == len(requests), out_of_process
        assert [r[:-1] for r in got] == [r[:-1] for r in expected], out_of_process
        assert all(before * 1e6 - 1 <= r[-1] <= after * 1e6 + 1 for r in got), out_of_process
        inputs = {r[0]: orjson.loads(r[8]) for r in got}
        assert inputs["q1"] == [{"age": 31.0, "income": -0.1}, {"age": 1e300, "income": 2.0}]
        assert inputs["q\x003"] == [{"age": 1.0, "income": 2.0}]
        assert inputs["q5"] == [{"age": 7.0, "income": 8.0}]
        assert inputs["q6"] == [{"age": 1.0, "income": 2.0}, {"age": 3.0, "income": 4.0}]
        # Files hold the plain column types, whatever arrays made them.
        files = list((tmp_path / f"{out_of_process}-u" / "request-log").rglob("*.parquet"))
        assert files
        for file in files:
            schema = pq.read_schema(file)
            assert [str(schema.field(c).type) for c in ("endpoint", "version", "error")] == [
                "string",
                "int32",
                "string",
            ]


def test_rows_a_killed_writer_process_held_count_as_writer_crash(tmp_path: Path) -> None:
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    store = open_artifact_store(str(tmp_path / "artifacts"))
    log = RequestLog(store, flush_interval=3600, out_of_process=True)
    log.start()
    process = log._process
    assert process is not None
    for row in _rows(40):
        log.append(row)
    assert log.flush() == 40
    _wait_for(lambda: log.written == 40, "the writer process reports 40 rows written")
    process.send_signal(signal.SIGSTOP)  # it cannot read: the next rows wait in the pipe
    for row in _rows(30, start=40):
        log.append(row)
    assert log.flush() == 30
    process.kill()
    process.wait()
    for row in _rows(5, start=70):
        log.append(row)
    assert log.flush() == 5  # written here now
    log.close()
    assert (log.logged, log.written, dict(log.dropped)) == (75, 45, {"writer_crash": 30})
    assert _ids_in(store) == {f"r{i}" for i in range(40)} | {f"r{i}" for i in range(70, 75)}
    [stats] = endpoint_stats(store, "credit")
    assert (stats.requests, stats.dropped) == (45, {"writer_crash": 30})


def _wait_for(condition: Any, what: str, timeout: float = 30.0) -> None:
    wait_until(condition, timeout, what, interval=0.02)


def test_a_failing_store_holds_at_most_max_buffered_rows_and_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The store is a symbolic link pointing at a plain file while it is down: every write
    fails (even as root), and pointing it back at the folder ends the outage."""
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    folder, down, link = tmp_path / "artifacts", tmp_path / "down", tmp_path / "store"
    folder.mkdir()
    down.write_bytes(b"not a folder")
    os.symlink(down, link)
    store = open_artifact_store(str(link))
    log = RequestLog(store, max_buffered=50, retry_min=0.05, retry_max=0.2)
    caplog.set_level(logging.WARNING, logger="usina.serving")
    for row in _rows(30):
        log.append(row)
    assert log.flush() == 0
    for row in _rows(100, start=30):
        log.append(row)
    log.flush()
    assert log.sink.pending == 50  # the oldest rows wait; the 80 newest are dropped
    assert (log.logged, log.written, dict(log.dropped)) == (130, 0, {"store_error": 80})
    # Retries fail again, the wait doubling from 0.05 s: past 0.1 s after the third failure.
    _wait_for(lambda: log.flush() == 0 and (log.sink.wait_time() or 0) > 0.1, "3 failures")
    link.unlink()
    os.symlink(folder, link)
    _wait_for(lambda: log.flush() > 0 or log.sink.pending == 0, "a retry succeeds")
    assert log.sink.pending == 0
    log.close()
    assert _ids_in(store) == {f"r{i}" for i in range(50)}
    [stats] = endpoint_stats(store, "credit")
    assert (stats.requests, stats.dropped) == (50, {"store_error": 80})
    said = [r.getMessage() for r in caplog.records]
    assert sum("writing to the store failed" in m for m in said) == 1, said
    assert sum("the store is writable again" in m for m in said) == 1, said


def test_a_stop_does_not_wait_forever_on_a_writer_that_takes_no_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    store = open_artifact_store(str(tmp_path / "artifacts"))
    log = RequestLog(store, flush_interval=0.05, out_of_process=True, stop_timeout=1.0)
    log.start()
    process = log._process
    assert process is not None
    process.send_signal(signal.SIGSTOP)  # alive, but reading nothing: the pipe fills up
    for row in _rows(3000):  # far more than a pipe's buffer holds
        log.append(row)
    with caplog.at_level(logging.ERROR, logger="usina.serving"):
        log.close()  # returns: the stuck writer is killed after stop_timeout
    assert process.poll() is not None
    assert "took no rows for 1 s while stopping" in caplog.text
    # Rows in frames the stuck writer had whole in its pipe are lost with it (writer_crash);
    # every other row is written here.
    crashed = log.dropped["writer_crash"]
    assert (log.logged, log.written + crashed) == (3000, 3000)
    assert log.written > 0
    assert len(_ids_in(store)) == log.written


def test_a_batch_stores_inputs_and_outputs_as_each_row_would_alone() -> None:
    """Whole batches are turned into JSON columns at once; every mix of rows must read back as
    the same JSON as the rows one at a time: one signature, two, rows without inputs (errors),
    outputs as JSON bytes or as values, inputs already protected into JSON bytes."""
    import pyarrow as pa

    from usina.serving.jsonbytes import json_inputs
    from usina.serving.logfiles import _json, _json_column

    one = ("age", "income")
    two = ("x",)
    forty = tuple(f"c{i}" for i in range(40))
    cases = {
        "one signature": [(one, b"[[30,5.5]]"), (one, b"[[1,-2.0],[3,null]]")],
        "rows without inputs": [(one, b"[[30,5.5]]"), None, (one, b'[["a",true]]'), None],
        "one row of numbers each": [
            # serving writes inputs with orjson: the same text comes out, as written
            (one, orjson.dumps([[1e-7, -0.0]])),
            (one, orjson.dumps([[None, True]])),
            (one, orjson.dumps([[12345678901234567890, 1.7976931348623157e308]])),
            (one, b"[[1,[2,3]]]"),  # nested: parsed
            (one, b'[["a,b",1]]'),  # a comma in a string: parsed
            (one, b"[[1]]"),  # fewer values than columns
            (one, b"[[1,{}]]"),
            (one, b"[[1, 2]]"),  # white space: parsed, so the text is orjson's
            (one, b"[[1,\t2]]"),
            (one, b"[[1,2]\n]"),
            (one, b"[[true,false]]"),
        ],
        "odd column names": [(("a%s", 'b"q'), b"[[1,2]]"), (("x", "x"), b"[[1,2]]")],
        "column names with commas and brackets": [
            (('k,"[[', "]]y"), b"[[1,2]]"),
            (('k,"[[', "]]y"), b"[[3,-4.5e-7]]"),
            (('k,"[[', "]]y"), b'[["a,b",1]]'),
        ],
        "one column": [(("x",), b"[[1]]"), (("x",), b"[[2.5]]"), (("x",), b"[[null]]")],
        "forty columns": [(forty, orjson.dumps([list(range(i, i + 40))])) for i in range(3)],
        "a second of numeric rows": [
            None if i % 97 == 0 else (one, orjson.dumps([[i * 0.37, -i]])) for i in range(3_000)
        ],
        "two signatures": [(one, b"[[30,5.5]]"), (two, b"[[1]]")],
        # float64 arrays as serving queues them: names, the array's bytes, its width
        "raw float rows": [
            (one, np.array([[30, 5.5]]).tobytes(), 2),
            (one, np.array([[1e-7, -0.0]]).tobytes(), 2),
            (one, np.array([[np.nan, 1.7976931348623157e308]]).tobytes(), 2),
            (one, np.array([[12345678901234567890, -2.5e-300]]).tobytes(), 2),
        ],
        "raw rows of several rows": [
            (one, np.array([[1, 2], [3, 4]], float).tobytes(), 2),
            (one, np.array([[5, 6]], float).tobytes(), 2),
        ],
        "raw, JSON and none mixed": [
            None,
            (one, np.array([[1.5, 2]]).tobytes(), 2),
            (one, b"[[1,2]]"),
            None,
        ],
        "raw with errors between": [
            None if i % 7 == 0 else (forty, np.arange(i, i + 40, dtype=float).tobytes(), 40)
            for i in range(200)
        ],
        "raw without column names": [((), np.array([[1.0, 2.0]]).tobytes(), 2)],
        "no column names": [((), b"[[1,2]]"), ((), b"[[3,4]]")],
        "JSON bytes": [b"[1]", None, b'{"a":1}'],
        "values": [[1, 2], None, {"a": "b"}],
        "none at all": [None, None],
        "empty": [],
    }
    for name, values in cases.items():
        column = _json_column(tuple(values), pa)
        assert column.type == pa.string(), name
        expected = [_json(v) for v in values]
        got = column.to_pylist()
        assert [None if e is None else orjson.loads(e) for e in expected] == [
            None if g is None else orjson.loads(g) for g in got
        ], name
        assert got == expected, name
        if name.startswith("raw"):  # the same text as the JSON rows serving queued before
            as_json = [json_inputs(v) for v in values]
            assert _json_column(tuple(as_json), pa).to_pylist() == expected, name


def test_rows_cross_the_pipe_as_columns_and_come_back_as_they_went() -> None:
    """What the writer process makes of a batch of rows (``pack_rows`` in the server, pickled,
    ``packed_batch`` in the writer) is the rows, field by field: request ids with or without
    NUL, several endpoints and keys, errors, raw and JSON inputs, one row or many."""
    import pickle

    import pyarrow as pa

    from usina.serving.logfiles import LogRow, _json, pack_rows, packed_batch, packed_keys

    one = ("age", "income")
    raw = (one, np.array([[30, 5.5]]).tobytes(), 2)
    rows = [
        LogRow("a", 1.5, "credit", "m", 1, False, "vertex", 200, 1.25, raw, b"[1]", None),
        LogRow("b", 2.0, "credit", "m", None, True, "mlflow", 500, 0.5, None, None, "boom"),
        LogRow(
            "c\x00d",
            86_400.25,
            "churn",
            "n",
            2,
            False,
            "v2",
            200,
            3.0,
            (one, b"[[1,2]]"),
            b"[0.5]",
            None,
        ),
    ]
    cases = {
        "mixed": rows,
        "one row": rows[:1],
        "one key": [rows[0]._replace(request_id=str(i), time=i / 3) for i in range(500)],
        "a NUL in an id": [rows[2], rows[0]],
        "no rows": [],
    }
    for name, case in cases.items():
        plain = [tuple(r) for r in case]
        packed = pickle.loads(pickle.dumps(pack_rows(plain), 5))
        got = pa.Table.from_batches([packed_batch(packed, pa)]).to_pylist()
        assert len(got) == len(case), name
        for row, stored in zip(case, got, strict=True):
            assert stored["request_id"] == row.request_id, name
            assert stored["time"].timestamp() == pytest.approx(row.time, abs=1e-6), name
            for field in ("endpoint", "model", "version", "shadow", "protocol", "status"):
                assert stored[field] == getattr(row, field), (name, field)
            assert stored["latency_ms"] == row.latency_ms, name
            assert stored["inputs"] == _json(row.inputs), name
            assert stored["outputs"] == _json(row.outputs), name
            assert stored["error"] == row.error, name
        keys = Counter((r.endpoint, r.version, r.shadow) for r in case)
        assert packed_keys(packed) == keys, name
