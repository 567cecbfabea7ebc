"""How the request log is stored: Parquet files of rows, and small records of dropped rows.

Rows go to ``request-log/endpoint=NAME/date=YYYY-MM-DD/*.parquet``, one file per (endpoint,
UTC day) per write. Rows the log had to drop are counted in
``request-log-drops/endpoint=NAME/date=YYYY-MM-DD/*.parquet``: one record per (second the
request was answered, endpoint, version, shadow, reason) with the number of rows, so
``usina endpoints stats`` can say how much of a window is missing, and why.
"""

from __future__ import annotations

import datetime as dt
import io
import operator
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import orjson

from usina.serving.inputs import dumps

PREFIX = "request-log"
DROPS_PREFIX = "request-log-drops"
# Rows looked at between two pauses of the writer, and the rows per record batch (each batch
# costs ~0.1 ms however small): see ``row_files``.
CHUNK_ROWS = 32
SEAL_ROWS = 64

# Why a row was dropped.
QUEUE_FULL = "queue_full"
STORE_ERROR = "store_error"
WRITER_CRASH = "writer_crash"
REASONS = (QUEUE_FULL, STORE_ERROR, WRITER_CRASH)


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


# Rows are counted by (endpoint, version, shadow); dropped ones also by the second they were
# answered and the reason: (second, endpoint, version, shadow, reason) -> rows.
RowKey = tuple[str, int | None, bool]
DropKey = tuple[int, str, int | None, bool, str]


def row_key(row: LogRow) -> RowKey:
    return (row.endpoint, row.version, row.shadow)


# The same key and the endpoint alone, as C-level getters for counting many rows at once.
ROW_KEY: Callable[[LogRow], RowKey] = operator.itemgetter(2, 4, 5)
ENDPOINT: Callable[[LogRow], str] = operator.itemgetter(2)


def file_name(tag: str, seq: int) -> str:
    return f"{int(time.time() * 1000)}-{tag}-{seq:06d}.parquet"


# Day number since 1970 -> "YYYY-MM-DD": every row asks, and the dates themselves are few.
_DAYS: dict[int, str] = {}


def _day(seconds: float) -> str:
    number = int(seconds // 86_400)
    day = _DAYS.get(number)
    if day is None:
        day = (dt.date(1970, 1, 1) + dt.timedelta(days=number)).isoformat()
        if len(_DAYS) >= 366:  # bounded: a writer running for years keeps one year's names
            _DAYS.clear()
        _DAYS[number] = day
    return day


def row_groups(rows: list[LogRow]) -> dict[tuple[str, str], list[int]]:
    """Indices of ``rows`` by the file they go to: (endpoint, UTC day)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault((row.endpoint, _day(row.time)), []).append(i)
    return groups


def row_file(
    rows: list[LogRow], indices: list[int], pause: float, endpoint: str, day: str, name: str
) -> tuple[str, bytes]:
    """The key and Parquet bytes of ``rows[i] for i in indices``.

    Serializing rows holds the GIL, which a request thread then waits for: up to the
    interpreter's 5 ms switch interval. Rows are turned into Arrow ``SEAL_ROWS`` at a time with
    a ``pause`` sleep every ``CHUNK_ROWS`` rows, so a request waits for at most one chunk.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = _Columns()
    if not pause:  # nobody waits on this process's GIL: the file's rows in one batch
        columns.pending = [rows[i] for i in indices]
    else:
        for start in range(0, len(indices), CHUNK_ROWS):
            for i in indices[start : start + CHUNK_ROWS]:
                columns.add(rows[i])
                columns.seal(pa)
            time.sleep(pause)
    columns.seal(pa, at_least=1)
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_batches(columns.batches), buffer, compression="zstd")
    return f"{PREFIX}/endpoint={endpoint}/date={day}/{name}", buffer.getvalue()


def drop_files(drops: dict[DropKey, int], tag: str, seq: Iterator[int]) -> list[tuple[str, bytes]]:
    """Keys and Parquet bytes of the drop records, one file per (endpoint, UTC day)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    groups: dict[tuple[str, str], list[tuple[DropKey, int]]] = {}
    for key, n in drops.items():
        groups.setdefault((key[1], _day(key[0])), []).append((key, n))
    files = []
    for (endpoint, day), items in groups.items():
        table = pa.table(
            {
                "time": pa.array(
                    [k[0] * 1_000_000 for k, _ in items], pa.timestamp("us", tz="UTC")
                ),
                "endpoint": pa.array([k[1] for k, _ in items], pa.string()),
                "version": pa.array([k[2] for k, _ in items], pa.int32()),
                "shadow": pa.array([k[3] for k, _ in items], pa.bool_()),
                "reason": pa.array([k[4] for k, _ in items], pa.string()),
                "rows": pa.array([n for _, n in items], pa.int64()),
            }
        )
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        name = file_name(tag, next(seq))
        files.append((f"{DROPS_PREFIX}/endpoint={endpoint}/date={day}/{name}", buffer.getvalue()))
    return files


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
