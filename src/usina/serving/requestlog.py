"""The request log: what each sampled request asked and got, written off the request path.

A request appends one plain tuple (a ``Row``) to an in-memory queue (thread-safe, no lock, no
serialization on the request path); the usual row (an answer of raw float inputs and JSON
outputs) is appended instead as one record to growing buffers, one set per key
(:class:`~usina.serving.logfiles.UsualRows`), which is cheaper on the request path and leaves
little to pack at the hand-over. Serving appends those on its event loop's thread alone, which
is also where the hand-over takes them, so that append takes no lock either. The queue is
bounded: it holds at most ``max_queued`` rows of either kind, counting those being handed over;
a row that arrives when it is full is dropped and counted (reason ``queue_full``), so memory
stays bounded and a request never waits for the log.

A thread wakes every ``flush_interval`` seconds, or as soon as ``max_rows`` are waiting, and
drains the queue. With ``out_of_process`` (what serving uses for a folder, ``gs://`` or ``s3://``
store) it hands the rows over a pipe to a writer process (:mod:`usina.serving.logwriter`,
protocol in :mod:`usina.serving.logpipe`), which writes them; otherwise, or once that process
is gone, the thread puts them in a :class:`~usina.serving.logsink.LogSink` and writes them
itself. Both gather rows for ``file_interval`` seconds and write one Parquet file per
(endpoint, date) and interval under ``request-log/endpoint=NAME/date=YYYY-MM-DD/``, retry a
failing store with backoff, and hold at most ``max_buffered`` rows meanwhile.

Counters (``ServingMetrics``): rows logged, written durably (reported back by the writer
process), and dropped by reason: ``queue_full``, ``store_error``, and ``writer_crash`` (rows
handed to a writer process that exited without writing them). Logged rows = written +
dropped + rows still on their way.

What a crash can lose: a graceful stop (SIGTERM, Ctrl-C) writes everything (the store
permitting). A SIGKILL of the server loses the rows still queued in it, uncounted, the
newest: while the writer keeps up, those answered in the last ``flush_interval`` seconds plus
one batch being handed over; never more than ``max_queued`` (plus the count of rows refused
since the last hand-over). Rows already handed to the writer process are written when its
input ends. A SIGKILL of the writer process alone loses the rows it held (up to a file
interval's), counted as ``writer_crash``, and the server goes on writing in-process.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import logging
import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from typing import Any

import numpy as np

from usina.artifacts import ArtifactStore
from usina.serving.logfiles import (
    ENDPOINT,
    PREFIX,
    QUEUE_FULL,
    TIME,
    USUAL_HEAD,
    WRITER_CRASH,
    DropKey,
    LogRow,
    Packed,
    Row,
    RowKey,
    UsualKey,
    UsualRows,
    packed_batch,
    row_key,
)
from usina.serving.logpipe import end_writer, pack_frames, read_status, send, spawn_writer
from usina.serving.logsink import SAY_EVERY_SECONDS, LogSink
from usina.serving.metrics import ServingMetrics

__all__ = ["PREFIX", "YIELD_SECONDS", "LogRow", "RequestLog"]

log = logging.getLogger("usina.serving")

# Looked up once here, not in a module's namespace on every request.
_FLOAT64 = np.dtype(np.float64)
_NDARRAY = np.ndarray
_HEAD = USUAL_HEAD
_now = time.time

# The pause between chunks of rows when this process writes Parquet (see logfiles.row_file).
YIELD_SECONDS = 0.0002


class RequestLog:
    """Queues rows (bounded) and writes them in batches to Parquet partitions (endpoint, date)."""

    def __init__(
        self,
        store: ArtifactStore,
        *,
        flush_interval: float = 1.0,
        max_rows: int = 10_000,
        max_queued: int = 50_000,
        max_buffered: int = 100_000,
        retry_min: float = 0.5,
        retry_max: float = 30.0,
        file_interval: float = 0.0,
        out_of_process: bool = False,
        writer_nice: int = 0,
        metrics: ServingMetrics | None = None,
        stop_timeout: float = 30.0,
    ) -> None:
        self.store = store
        self.stop_timeout = stop_timeout
        self.out_of_process = out_of_process
        self.writer_nice = writer_nice
        self.flush_interval = flush_interval
        self.max_rows = max_rows
        self.max_queued = max_queued
        self.metrics = metrics if metrics is not None else ServingMetrics()
        # Exact totals, as on /metrics (for this process): rows taken, written, dropped.
        self.logged = 0
        self.written = 0
        self.dropped: Counter[str] = Counter()
        self._rows: collections.deque[Row] = collections.deque()
        # The usual rows, as records by key and rows a request, and how many (under
        # ``_usual_lock``).
        self._usual: dict[tuple[UsualKey, tuple[int, ...]], UsualRows] = {}
        self._usual_n = 0
        self._last: UsualRows | None = None  # where the last usual row went
        self._usual_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None  # the one appending, once bound
        self._loop_thread = 0
        self._in_flight = 0
        # Rows ``append`` queues before it checks the limits (a full queue, ``max_rows``
        # waiting): one less than the nearer of them, with the rows being handed over.
        self._room = min(max_rows, max_queued) - 1
        self._full: Counter[DropKey] = Counter()
        self._full_lock = threading.Lock()
        self._full_said = -SAY_EVERY_SECONDS
        self._count_lock = threading.Lock()
        self._handed: Counter[RowKey] = Counter()
        self._acked: Counter[RowKey] = Counter()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._flush_lock = threading.Lock()
        self._tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.sink = LogSink(
            store,
            self._tag,
            max_buffered=max_buffered,
            retry_min=retry_min,
            retry_max=retry_max,
            file_interval=file_interval,
            on_written=self._count_written,
            on_dropped=self._count_dropped,
        )
        self._process: subprocess.Popen[bytes] | None = None
        self._status: threading.Thread | None = None

    def append(self, row: Row) -> None:
        """Queue a row, or drop and count it when the queue is full; called on the request
        path, so it only appends while there is room before the next limit (``_room``)."""
        rows = self._rows
        if len(rows) + self._usual_n < self._room:
            rows.append(row)
            return
        queued = len(rows) + self._usual_n
        if queued + self._in_flight >= self.max_queued:
            self._refuse(int(TIME(row)), row_key(row))
            return
        rows.append(row)
        if queued + 1 >= self.max_rows:
            self._wake.set()

    def append_usual(
        self, key: UsualKey, request_id: str, latency_ms: float, data: Any, outputs: bytes | None
    ) -> bool:
        """Queue the usual row (status 200, no shadow) of ``key`` (endpoint, model, version,
        protocol, input column names): ``data`` the model input, ``outputs`` its JSON. False,
        having queued nothing, when ``data`` is not a 2-D float64 array of those columns or
        there are no outputs (the caller then queues a ``Row``). Called on the request path;
        as ``append``, it drops and counts the row when the queue is full.

        Any thread may call it, under a lock; once ``start`` has bound the log to an event
        loop, only that loop's thread may, and it takes no lock (``_append_usual``)."""
        # Taken and released by hand: a ``with`` block looks up and calls two special
        # methods, which cost more than the rest of the append (try/finally costs nothing
        # until something raises).
        lock = self._usual_lock
        lock.acquire()
        try:
            return self._append_usual(key, request_id, latency_ms, data, outputs)
        finally:
            lock.release()

    def _append_usual(
        self, key: UsualKey, request_id: str, latency_ms: float, data: Any, outputs: bytes | None
    ) -> bool:
        """``append_usual`` on the one thread that appends usual rows and takes them
        (``_take``): the bound loop's, or any under ``_usual_lock``."""
        if type(data) is not _NDARRAY or data.dtype is not _FLOAT64 or outputs is None:
            return False
        shape = data.shape
        # The key's parts are the same objects request after request, and so are the shape's
        # numbers: comparing with the last row's compares pointers.
        usual = self._last
        if usual is None or usual.shape != shape or usual.key != key:
            usual = self._usual_rows(key, shape)
            if usual is None:
                return False
        if self._usual_n + len(self._rows) >= self._room and self._queue_full(key):
            return True
        records = usual.records
        try:
            records.extend(data)  # the array's own bytes, without a copy as ``bytes``
        except TypeError:  # a view that is not C-contiguous: nothing was appended
            records += data.tobytes()
        records += _HEAD.pack(_now(), latency_ms, len(outputs))
        usual.outputs += outputs
        usual.ids.append(request_id)
        self._usual_n += 1
        return True

    def _usual_rows(self, key: UsualKey, shape: tuple[int, ...]) -> UsualRows | None:
        """The queued usual rows of ``key`` whose inputs have ``shape``, made on first use;
        None when that is not a shape of the key's columns. From ``_append_usual``."""
        if len(shape) != 2 or shape[1] != len(key[4]) or not shape[1]:
            return None
        usual = self._usual.get((key, shape))
        if usual is None:
            usual = self._usual[(key, shape)] = UsualRows(key, shape)
        self._last = usual
        return usual

    def _queue_full(self, key: UsualKey) -> bool:
        """Near a limit: True, having counted the usual row of ``key`` as dropped, when the
        queue is full; wakes the hand-over when ``max_rows`` wait. From ``_append_usual``."""
        queued = self._usual_n + len(self._rows)
        if queued + self._in_flight >= self.max_queued:
            self._refuse(int(_now()), (key[0], key[2], False))
            return True
        if queued + 1 >= self.max_rows:
            self._wake.set()
        return False

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start the writer thread (and, with ``out_of_process``, the writer process).

        With ``loop`` (serving's, from a coroutine on it), only that loop's thread calls
        ``append_usual`` from now on: it appends without a lock, and the hand-over takes the
        usual rows on that thread, between two of its callbacks (see ``_taken``)."""
        if loop is not None:
            self._loop, self._loop_thread = loop, threading.get_ident()
            self.append_usual = self._append_usual  # type: ignore[method-assign]
        if self.out_of_process and self._process is None:
            options = [
                f"--max-buffered={self.sink.max_buffered}",
                f"--retry-min={self.sink.retry_min}",
                f"--retry-max={self.sink.retry_max}",
                f"--file-interval={self.sink.file_interval}",
                f"--nice={self.writer_nice}",
            ]
            self._process = spawn_writer(self.store, options)
            if self._process is not None and self._process.stdout is not None:
                self._status = threading.Thread(
                    target=read_status,
                    args=(self._process.stdout, self._acked_written, self._acked_dropped),
                    name="usina-request-log-status",
                    daemon=True,
                )
                self._status.start()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="usina-request-log", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the writer and flush every queued row (a graceful stop loses nothing).

        A writer process that takes no rows for ``stop_timeout`` seconds while they are handed
        over (alive but stuck, say on a hung mount) is killed, so a stop never waits forever;
        the rows it held count as ``writer_crash`` and the rest are written here.
        """
        if self._loop is not None and threading.get_ident() == self._loop_thread:
            self._unbind()  # the loop waits here: a hand-over waiting on it takes the rows itself
        self._stop.set()
        self._wake.set()
        watchdog = threading.Timer(self.stop_timeout, self._kill_stuck_writer)
        watchdog.daemon = True
        watchdog.start()
        try:
            if self._thread is not None:
                self._thread.join()
                self._thread = None
            self.flush(pause=0.0)
        finally:
            watchdog.cancel()
        with self._flush_lock:
            self._writer_gone(stopping=True)
            self.sink.close()

    def flush(self, pause: float = YIELD_SECONDS) -> int:
        """Hand the queued rows to the writer process, or write them here; returns how many.
        ``pause`` is the sleep between chunks of rows that lets request threads take the GIL
        (0 when none run)."""
        with self._flush_lock:
            if self._process is not None and self._process.poll() is not None:
                self._writer_gone()
            n, usual, taken = self._taken()
            try:
                # ``n`` rows off the front, by C calls (rows queued meanwhile stay)
                rows = list(itertools.islice(iter(self._rows.popleft, None), n))
                frames = [u.packed() for u in usual]
                with self._full_lock:
                    full, self._full = self._full, Counter()
                self._count_taken(rows, usual, full)
                if self._process is not None:
                    frames = pack_frames(rows) + frames
                    rows = []
                    sent = send(self._process, frames, full, self._hand)
                    if sent == len(frames):
                        return taken
                    self._writer_gone()
                    if sent >= 0:
                        full = Counter()  # the drop records went before the writer died
                    frames = frames[max(sent, 0) :]
                self.sink.add_drops(full)
                self.sink.add(rows)
                self._add_frames(frames)
            finally:
                self._in_flight = 0
                self._room = min(self.max_rows, self.max_queued) - 1
            if self.sink.wait_time() is None:
                return 0
            return self.sink.write(pause)

    def _take(self) -> tuple[int, list[UsualRows], int]:
        """The queued rows to hand over: how many of ``_rows``, the usual rows (taken), and
        both together, now in flight. On the thread that appends usual rows (see ``_taken``)."""
        n = len(self._rows)
        usual, self._usual = list(self._usual.values()), {}
        self._last = None
        taken = n + self._usual_n
        self._usual_n = 0
        self._in_flight = taken
        self._room = min(self.max_rows, self.max_queued - taken) - 1
        return n, usual, taken

    def _taken(self) -> tuple[int, list[UsualRows], int]:
        """``_take``, run where it cannot interleave with ``_append_usual``: on the bound loop,
        as its next callback, whose thread is the only one appending; without a loop, or once
        it has stopped running (nothing appends then), here under ``_usual_lock``."""
        loop = self._loop
        if loop is not None and threading.get_ident() == self._loop_thread:
            return self._take()  # the appending thread itself
        if loop is not None:
            future: concurrent.futures.Future[tuple[int, list[UsualRows], int]]
            future = concurrent.futures.Future()

            def take() -> None:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(self._take())
                    except BaseException as exc:  # noqa: BLE001  # handed to the waiting thread
                        future.set_exception(exc)

            try:
                loop.call_soon_threadsafe(take)
            except RuntimeError:  # the loop is closed
                future.cancel()
            while not future.cancelled():
                try:
                    return future.result(timeout=0.5)
                except concurrent.futures.TimeoutError:
                    # A loop that is not running runs no request, nor this callback until it
                    # runs again; nor does one whose thread is closing the log (``_unbind``):
                    # take the rows here, and append under the lock from now on.
                    if (self._loop is None or not loop.is_running()) and future.cancel():
                        break
            self._unbind()
        with self._usual_lock:
            return self._take()

    def _unbind(self) -> None:
        """Append usual rows under ``_usual_lock`` again, from any thread."""
        self._loop = None
        self.__dict__.pop("append_usual", None)

    def _add_frames(self, frames: list[Packed]) -> None:
        """Put rows packed as columns in the sink (written by this process)."""
        if not frames:
            return
        import pyarrow as pa

        for packed in frames:
            self.sink.add_table(pa.Table.from_batches([packed_batch(packed, pa)]))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("request log: a flush failed; the rows stay queued")

    def _kill_stuck_writer(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            log.error(
                "request log: the writer process took no rows for %g s while stopping; killing "
                "it (the rows it held count as writer_crash, the rest are written here)",
                self.stop_timeout,
            )
            process.kill()

    def _refuse(self, second: int, key: RowKey) -> None:
        with self._full_lock:
            self._full[(second, *key, QUEUE_FULL)] += 1
            now = time.monotonic()
            say = now - self._full_said >= SAY_EVERY_SECONDS
            if say:
                self._full_said = now
        if say:
            log.warning(
                "request log: the queue is full (%d rows); dropping new rows until the writer "
                'catches up, counted in usina_request_log_rows_dropped_total{reason="queue_full"}',
                self.max_queued,
            )

    def _writer_gone(self, stopping: bool = False) -> None:
        """The writer process exited (or is told to): count the rows it never accounted for
        as ``writer_crash`` drops; from now on this process writes. Under ``_flush_lock``."""
        process, self._process = self._process, None
        if process is None:
            return
        end_writer(process)
        if self._status is not None:
            self._status.join(30)
            self._status = None
        if process.stdout is not None:
            process.stdout.close()
        with self._count_lock:
            lost = self._handed - self._acked
            self._handed.clear()
            self._acked.clear()
        if lost:
            self._count_dropped(lost, WRITER_CRASH)
            second = int(time.time())
            self.sink.add_drops(Counter({(second, *k, WRITER_CRASH): n for k, n in lost.items()}))
        if lost or not stopping:
            log.error(
                "request log: the writer process exited (code %s) and lost %d rows it held; "
                "writing from this process from now on",
                process.returncode,
                sum(lost.values()),
            )

    # -- counting ----------------------------------------------------------------------------

    def _hand(self, counts: Counter[RowKey]) -> None:
        with self._count_lock:
            self._handed.update(counts)

    def _acked_written(self, counts: Counter[RowKey]) -> None:
        with self._count_lock:
            self._acked.update(counts)
        self._count_written(counts)

    def _acked_dropped(self, counts: Counter[RowKey], reason: str) -> None:
        with self._count_lock:
            self._acked.update(counts)
        self._count_dropped(counts, reason)

    def _count_taken(self, rows: list[Row], usual: list[UsualRows], full: Counter[DropKey]) -> None:
        by_endpoint: Counter[str] = Counter(map(ENDPOINT, rows))
        for u in usual:
            by_endpoint[u.endpoint] += len(u)
        refused: Counter[RowKey] = Counter()
        for (_second, endpoint, version, shadow, _reason), n in full.items():
            by_endpoint[endpoint] += n
            refused[(endpoint, version, shadow)] += n
        with self._count_lock:
            self.logged += sum(by_endpoint.values())
        for endpoint, n in by_endpoint.items():
            self.metrics.log_logged.labels(endpoint).inc(n)
        if refused:
            self._count_dropped(refused, QUEUE_FULL)

    def _count_written(self, counts: Counter[RowKey]) -> None:
        by_endpoint: Counter[str] = Counter()
        for key, n in counts.items():
            by_endpoint[key[0]] += n
        with self._count_lock:
            self.written += sum(by_endpoint.values())
        for endpoint, n in by_endpoint.items():
            self.metrics.log_written.labels(endpoint).inc(n)

    def _count_dropped(self, counts: Counter[RowKey], reason: str) -> None:
        by_endpoint: Counter[str] = Counter()
        for key, n in counts.items():
            by_endpoint[key[0]] += n
        with self._count_lock:
            self.dropped[reason] += sum(by_endpoint.values())
        for endpoint, n in by_endpoint.items():
            self.metrics.log_dropped.labels(endpoint, reason).inc(n)
