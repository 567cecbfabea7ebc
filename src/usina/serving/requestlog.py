"""The request log: what each sampled request asked and got, written off the request path.

A request appends one tuple to an in-memory deque (thread-safe, no lock, no serialization on
the request path). A writer thread wakes every ``flush_interval`` seconds, or as soon as
``max_rows`` are waiting, serializes the rows and writes one Parquet file per (endpoint, date)
under ``request-log/endpoint=NAME/date=YYYY-MM-DD/`` in the artifact store. Each file is written
atomically by the store, so readers never see a partial file.

What a crash can lose: a graceful stop (SIGTERM, Ctrl-C) flushes everything. A SIGKILL or power
loss loses the rows still in memory: at most those answered in the last ``flush_interval``
seconds (1 s by default), plus a batch whose write was under way, and never more than
``max_rows`` plus what arrived during that write. If writes keep failing, the buffer is capped
at ``max_buffered`` rows and the oldest are dropped and counted.
"""

from __future__ import annotations

import collections
import datetime as dt
import io
import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson

from usina.artifacts import ArtifactStore
from usina.serving.inputs import dumps

log = logging.getLogger("usina.serving")

PREFIX = "request-log"


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
    ) -> None:
        self.store = store
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

    def append(self, row: LogRow) -> None:
        """Queue a row; called on the request path, so it only appends."""
        self._rows.append(row)
        if len(self._rows) >= self.max_rows:
            self._wake.set()

    def start(self) -> None:
        """Start the writer thread."""
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
        self.flush()

    def flush(self) -> int:
        """Write the queued rows now; returns how many were written."""
        with self._flush_lock:
            rows = list(_drain(self._rows))
            if not rows:
                return 0
            try:
                self._write(rows)
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

    def _write(self, rows: list[LogRow]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        groups: dict[tuple[str, str], list[LogRow]] = {}
        for row in rows:
            day = dt.datetime.fromtimestamp(row.time, dt.UTC).strftime("%Y-%m-%d")
            groups.setdefault((row.endpoint, day), []).append(row)
        for (endpoint, day), group in groups.items():
            table = pa.table(
                {
                    "request_id": pa.array([r.request_id for r in group], pa.string()),
                    "time": pa.array(
                        [int(r.time * 1_000_000) for r in group], pa.timestamp("us", tz="UTC")
                    ),
                    "endpoint": pa.array([r.endpoint for r in group], pa.string()),
                    "model": pa.array([r.model for r in group], pa.string()),
                    "version": pa.array([r.version for r in group], pa.int32()),
                    "shadow": pa.array([r.shadow for r in group], pa.bool_()),
                    "protocol": pa.array([r.protocol for r in group], pa.string()),
                    "status": pa.array([r.status for r in group], pa.int16()),
                    "latency_ms": pa.array([r.latency_ms for r in group], pa.float64()),
                    "inputs": pa.array([_json(r.inputs) for r in group], pa.string()),
                    "outputs": pa.array([_json(r.outputs) for r in group], pa.string()),
                    "error": pa.array([r.error for r in group], pa.string()),
                }
            )
            buffer = io.BytesIO()
            pq.write_table(table, buffer, compression="zstd")
            name = f"{int(time.time() * 1000)}-{self._tag}-{next(self._seq):06d}.parquet"
            self.store.write(f"{PREFIX}/endpoint={endpoint}/date={day}/{name}", buffer.getvalue())


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
