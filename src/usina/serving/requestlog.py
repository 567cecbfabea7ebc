"""The request log: what each sampled request asked and got, written off the request path.

A request appends one tuple to an in-memory deque (thread-safe, no lock, no serialization on
the request path). A writer thread wakes every ``flush_interval`` seconds, or as soon as
``max_rows`` are waiting, and drains the deque. With ``out_of_process`` (what serving uses for
a folder, ``gs://`` or ``s3://`` store) it pickles the rows as plain tuples and hands them over
a pipe to a writer process (:mod:`usina.serving.logwriter`), which does the rest; otherwise,
or once that process is gone, the thread does it: one Parquet file per (endpoint, date) under
``request-log/endpoint=NAME/date=YYYY-MM-DD/`` in the artifact store, ``CHUNK_ROWS`` rows
serialized at a time with a short sleep between chunks, so a request waiting for the GIL waits
for one chunk rather than the interpreter's 5 ms switch interval. Each file is written
atomically by the store, so readers never see a partial file.

What a crash can lose: a graceful stop (SIGTERM, Ctrl-C) writes everything. A SIGKILL of the
server or a power loss loses the rows still in its memory: at most those answered in the last
``flush_interval`` seconds (1 s by default), and never more than ``max_rows`` plus what arrived
during a flush. Rows already handed to the writer process are written when its input ends,
unless it dies too; a SIGKILL of the writer process alone loses the batch it held, and the
server goes on writing in-process. If writes keep failing, the buffer is capped at
``max_buffered`` rows and the oldest are dropped and counted.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import io
import itertools
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO, NamedTuple

import orjson

from usina.artifacts import ArtifactStore
from usina.serving.inputs import dumps

log = logging.getLogger("usina.serving")

PREFIX = "request-log"
# Rows looked at between two pauses of the writer, the pause, and the rows per record batch
# (each batch costs ~0.1 ms however small): see ``RequestLog._write``.
CHUNK_ROWS = 32
YIELD_SECONDS = 0.0002
SEAL_ROWS = 64
# Artifact stores a writer process can open again from their URI.
OUT_OF_PROCESS_SCHEMES = ("file", "gs", "gcs", "s3")
SEND_ROWS = 256
END_OF_BATCH = struct.pack("<I", 0)


class LogRow(NamedTuple):
    """One logged request (or one shadow answer)."""

    request_id: str
    time: float
    endpoint: str
    model: str
    version: int | None
    shadow: bool
    protocol: str
    status: int
    latency_ms: float
    inputs: Any
    outputs: Any
    error: str | None


class RequestLog:
    """Buffers rows and writes them in batches to Parquet partitions (endpoint, date)."""

    def __init__(
        self,
        store: ArtifactStore,
        *,
        flush_interval: float = 1.0,
        max_rows: int = 10_000,
        max_buffered: int = 200_000,
        out_of_process: bool = False,
    ) -> None:
        self.store = store
        self.out_of_process = out_of_process
        self.flush_interval = flush_interval
        self.max_rows = max_rows
        self.max_buffered = max_buffered
        self.dropped = 0
        self.written = 0
        self._rows: collections.deque[LogRow] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._flush_lock = threading.Lock()
        self._seq = itertools.count()
        self._tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._process: subprocess.Popen[bytes] | None = None

    def append(self, row: LogRow) -> None:
        """Queue a row; called on the request path, so it only appends."""
        self._rows.append(row)
        if len(self._rows) >= self.max_rows:
            self._wake.set()

    def start(self) -> None:
        """Start the writer thread (and, with ``out_of_process``, the writer process)."""
        if self.out_of_process and self._process is None:
            self._process = _spawn_writer(self.store)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="usina-request-log", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the writer and flush every queued row (a graceful stop loses nothing)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush(pause=0.0)
        process, self._process = self._process, None
        if process is not None:
            _end(process)

    def flush(self, pause: float = YIELD_SECONDS) -> int:
        """Write the queued rows now; returns how many were written. ``pause`` is the sleep
        between chunks of rows that lets request threads take the GIL (0 when none run)."""
        with self._flush_lock:
            rows = list(_drain(self._rows))
            if not rows:
                return 0
            if self._process is not None:
                try:
                    _send(self._process, rows)
                    self.written += len(rows)
                    return len(rows)
                except OSError as exc:
                    log.error(
                        "the request log writer process is gone (%s); writing from this "
                        "process from now on",
                        exc,
                    )
                    _end(self._process)
                    self._process = None
            try:
                self._write(rows, pause)
            except Exception:
                log.exception(
                    "request log write failed; keeping %d rows for the next try", len(rows)
                )
                self._rows.extendleft(reversed(rows))
                overflow = len(self._rows) - self.max_buffered
                for _ in range(max(overflow, 0)):
                    self._rows.popleft()
                    self.dropped += 1
                return 0
            self.written += len(rows)
            return len(rows)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self.flush()

    def _write(self, rows: list[LogRow], pause: float = YIELD_SECONDS) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # Serializing rows holds the GIL, which the request path then waits for: up to the
        # interpreter's 5 ms switch interval. Rows are grouped a chunk at a time and turned
        # into Arrow ``SEAL_ROWS`` at a time, with a short sleep between chunks, so a request
        # waits for at most one chunk and one batch (well under 1 ms).
        groups: dict[tuple[str, int], _Columns] = {}
        for start in range(0, len(rows), CHUNK_ROWS):
            for row in rows[start : start + CHUNK_ROWS]:
                key = (row.endpoint, int(row.time // 86_400))
                columns = groups.get(key)
                if columns is None:
                    columns = groups[key] = _Columns()
                columns.add(row)
                columns.seal(pa)  # to Arrow a few rows at a time: pa.array holds the GIL
            if pause:
                time.sleep(pause)
        for (endpoint, day_number), columns in groups.items():
            columns.seal(pa, at_least=1)
            day = (dt.date(1970, 1, 1) + dt.timedelta(days=day_number)).isoformat()
            buffer = io.BytesIO()
            pq.write_table(pa.Table.from_batches(columns.batches), buffer, compression="zstd")
            name = f"{int(time.time() * 1000)}-{self._tag}-{next(self._seq):06d}.parquet"
            self.store.write(f"{PREFIX}/endpoint={endpoint}/date={day}/{name}", buffer.getvalue())
            if pause:
                time.sleep(pause)


class _Columns:
    """One Parquet file's rows, turned into Arrow record batches ``SEAL_ROWS`` at a time."""

    def __init__(self) -> None:
        self.batches: list[Any] = []
        self.pending: list[LogRow] = []

    def add(self, row: LogRow) -> None:
        self.pending.append(row)

    def seal(self, pa: Any, at_least: int = SEAL_ROWS) -> None:
        """Move the pending rows into a record batch once there are ``at_least`` of them."""
        if not self.pending or len(self.pending) < at_least:
            return
        (
            request_id,
            times,
            endpoint,
            model,
            version,
            shadow,
            protocol,
            status,
            latency_ms,
            inputs,
            outputs,
            error,
        ) = zip(*self.pending, strict=True)
        self.pending = []
        self.batches.append(
            pa.record_batch(
                {
                    "request_id": pa.array(request_id, pa.string()),
                    "time": pa.array(
                        [int(t * 1_000_000) for t in times], pa.timestamp("us", tz="UTC")
                    ),
                    "endpoint": pa.array(endpoint, pa.string()),
                    "model": pa.array(model, pa.string()),
                    "version": pa.array(version, pa.int32()),
                    "shadow": pa.array(shadow, pa.bool_()),
                    "protocol": pa.array(protocol, pa.string()),
                    "status": pa.array(status, pa.int16()),
                    "latency_ms": pa.array(latency_ms, pa.float64()),
                    "inputs": pa.array([_json(v) for v in inputs], pa.string()),
                    "outputs": pa.array([_json(v) for v in outputs], pa.string()),
                    "error": pa.array(error, pa.string()),
                }
            )
        )


def _spawn_writer(store: ArtifactStore) -> subprocess.Popen[bytes] | None:
    """Start ``python -m usina.serving.logwriter URI``, or ``None`` when the store cannot be
    opened from another process (``memory://``, a usina server)."""
    uri = getattr(store, "uri", "")
    if uri.partition("://")[0] not in OUT_OF_PROCESS_SCHEMES:
        return None
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "usina.serving.logwriter", uri],
            stdin=subprocess.PIPE,
            # Its own session: a Ctrl-C to the server's process group must not stop it before
            # the server has handed it the last rows; it exits when its input ends.
            start_new_session=True,
        )
    except OSError:
        log.exception("could not start the request log writer process; writing in this one")
        return None


def _end(process: subprocess.Popen[bytes]) -> None:
    """Close the writer process's input, so it writes what it holds and exits; wait for it."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        log.error("the request log writer process did not finish in 60 s; killing it")
        process.kill()
        process.wait()


def _send(process: subprocess.Popen[bytes], rows: list[LogRow]) -> None:
    """Hand ``rows`` to the writer process: pickled frames of ``SEND_ROWS`` plain tuples, each
    prefixed with its length, then an empty frame that tells it to write them."""
    pipe = process.stdin
    if pipe is None or process.poll() is not None:
        raise BrokenPipeError("the writer process has exited")
    for start in range(0, len(rows), SEND_ROWS):
        payload = pickle.dumps([tuple(r) for r in rows[start : start + SEND_ROWS]], 5)
        pipe.write(struct.pack("<I", len(payload)) + payload)
    pipe.write(END_OF_BATCH)
    pipe.flush()


def read_batches(stream: BinaryIO) -> Iterator[list[LogRow]]:
    """The batches ``_send`` wrote, until the stream ends; a batch cut short by the end of the
    stream (the server died mid-send) is yielded too."""
    batch: list[LogRow] = []
    while True:
        header = stream.read(4)
        if len(header) < 4:
            break
        (size,) = struct.unpack("<I", header)
        if size == 0:
            yield batch
            batch = []
            continue
        payload = stream.read(size)
        if len(payload) < size:
            break
        batch.extend(LogRow(*row) for row in pickle.loads(payload))
    if batch:
        yield batch


def _drain(rows: collections.deque[LogRow]) -> Iterator[LogRow]:
    for _ in range(len(rows)):
        try:
            yield rows.popleft()
        except IndexError:
            return


def _json(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, tuple):  # (column names, JSON rows): rows as objects
        names, data = value
        rows = orjson.loads(data) if isinstance(data, bytes) else data
        value = [dict(zip(names, row, strict=False)) for row in rows] if names else rows
    return dumps(value).decode()
