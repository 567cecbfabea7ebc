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
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import orjson

from usina.serving.jsonbytes import dumps

PREFIX = "request-log"
DROPS_PREFIX = "request-log-drops"
# Rows looked at between two pauses of the writer, and the rows per record batch (each batch
# costs ~0.1 ms however small): see ``row_files``.
CHUNK_ROWS = 32
SEAL_ROWS = 64

# Columns with few distinct values, dictionary-encoded; the others (request ids, inputs, times)
# are nearly all distinct, and trying a dictionary on them cost a fifth of a file's write.
DICTIONARY_COLUMNS = ["endpoint", "model", "version", "shadow", "protocol", "status", "error"]

# Why a row was dropped.
QUEUE_FULL = "queue_full"
STORE_ERROR = "store_error"
WRITER_CRASH = "writer_crash"
REASONS = (QUEUE_FULL, STORE_ERROR, WRITER_CRASH)

# Inputs rewritten as objects at once (``_objects``) fit one Arrow string column: 32-bit offsets.
MAX_REWRITE_BYTES = (1 << 31) - 1


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


# A row on its way to a file: the fields of ``LogRow`` in a plain tuple. Serving queues rows
# in this form: the garbage collector stops tracking a plain tuple of strings, numbers and
# bytes at its first collection, while it keeps tracking a named tuple (a subclass) for as
# long as it lives, so a second of queued ``LogRow``s is traversed again by every collection
# until it is handed over. Code reading a row in either form goes by position (the getters
# below); ``LogRow`` names the fields where rows are built into files.
Row = tuple[str, float, str, str, "int | None", bool, str, int, float, Any, Any, "str | None"]

# Rows are counted by (endpoint, version, shadow); dropped ones also by the second they were
# answered and the reason: (second, endpoint, version, shadow, reason) -> rows.
RowKey = tuple[str, int | None, bool]
DropKey = tuple[int, str, int | None, bool, str]


# A row's key, endpoint and time, as C-level getters (by position: rows are plain tuples).
ROW_KEY: Callable[[Row], RowKey] = operator.itemgetter(2, 4, 5)
ENDPOINT: Callable[[Row], str] = operator.itemgetter(2)
TIME: Callable[[Row], float] = operator.itemgetter(1)


def row_key(row: Row) -> RowKey:
    return ROW_KEY(row)


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


def row_groups(rows: Sequence[Row]) -> dict[tuple[str, str], Sequence[int]]:
    """Indices of ``rows`` by the file they go to: (endpoint, UTC day).

    The usual case, every row of one endpoint on one day, is told by C-level passes over the
    rows (their endpoints, their earliest and latest time) and answered with one ``range``.
    """
    if rows:
        endpoints = set(map(ENDPOINT, rows))
        if len(endpoints) == 1:
            times = list(map(TIME, rows))
            first, last = _day(min(times)), _day(max(times))
            if first == last:
                return {(endpoints.pop(), first): range(len(rows))}
    groups: dict[tuple[str, str], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault((ENDPOINT(row), _day(TIME(row))), []).append(i)
    return dict(groups)


def row_file(
    rows: Sequence[Row], indices: Sequence[int], pause: float, endpoint: str, day: str, name: str
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
        whole = isinstance(indices, range) and indices == range(len(rows))
        columns.pending = list(rows) if whole else [rows[i] for i in indices]
    else:
        for start in range(0, len(indices), CHUNK_ROWS):
            for i in indices[start : start + CHUNK_ROWS]:
                columns.add(rows[i])
                columns.seal(pa)
            time.sleep(pause)
    columns.seal(pa, at_least=1)
    buffer = io.BytesIO()
    pq.write_table(
        pa.Table.from_batches(columns.batches),
        buffer,
        compression="zstd",
        use_dictionary=DICTIONARY_COLUMNS,
    )
    return f"{PREFIX}/endpoint={endpoint}/date={day}/{name}", buffer.getvalue()


def warm_up() -> None:
    """Make one row file and throw it away, so that what writing loads is loaded now."""
    row: Row = ("", 0.0, "", "", None, False, "", 0, 0.0, (("x",), b"[[0]]"), b"[0]", None)
    row_file([row], range(1), 0.0, "", "1970-01-01", "")


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
        self.pending: list[Row] = []

    def add(self, row: Row) -> None:
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
                        (np.array(times, np.float64) * 1_000_000).astype(np.int64),
                        pa.timestamp("us", tz="UTC"),
                    ),
                    "endpoint": pa.array(endpoint, pa.string()),
                    "model": pa.array(model, pa.string()),
                    "version": pa.array(version, pa.int32()),
                    "shadow": pa.array(shadow, pa.bool_()),
                    "protocol": pa.array(protocol, pa.string()),
                    "status": pa.array(status, pa.int16()),
                    "latency_ms": pa.array(latency_ms, pa.float64()),
                    "inputs": _json_column(inputs, pa),
                    "outputs": _json_column(outputs, pa),
                    "error": pa.array(error, pa.string()),
                }
            )
        )


def _json_column(values: tuple[Any, ...], pa: Any) -> Any:
    """A string column of the values as JSON text (``None`` stays null).

    Values that are JSON bytes already (outputs, and inputs once protected) become the column
    in one cast, without a Python string per row. Inputs kept as (column names, JSON rows) under
    one signature, the usual case, are checked once for the batch instead of row by row, and
    one-row numeric requests are rewritten as objects by array operations (``_objects``).
    """
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if kinds <= {bytes}:
        return pa.array(values, pa.binary()).cast(pa.string())
    if kinds == {tuple}:
        present = [v for v in values if v is not None]
        names = set(map(_NAMES, present))
        data = list(map(_DATA, present))
        columns = next(iter(names))
        if len(names) == 1 and columns and set(map(type, data)) == {bytes}:
            column = _objects(columns, data, pa)
            if len(present) == len(values):
                return column
            found = iter(column.to_pylist())
            return pa.array([None if v is None else next(found) for v in values], pa.string())
    return pa.array([_json(v) for v in values], pa.string())


def _objects(columns: Sequence[str], data: list[bytes], pa: Any) -> Any:
    """Each request's JSON rows (``[[1.5,2]]``) as JSON objects under ``columns``
    (``[{"a":1.5,"b":2}]``), as an Arrow string column: the text ``_json`` makes, in a
    fraction of the time for the usual request.

    A request of one row of numbers (no string, no nested list, no white space: ``[`` and
    ``]`` appear only around the row) is rewritten as it is: its values, split at the commas,
    are joined again between the keys, ``[{`` and ``}]``. The values' text stays as it is,
    which is the text orjson writes for those values again. The requests are checked and
    rewritten together by Arrow's string kernels, with no Python string per request: parsing
    each request and encoding it again is otherwise the most a writer process spends on a
    row. Any other request is parsed and encoded.
    """
    import pyarrow.compute as pc

    width = len(columns)
    keys = [orjson.dumps(c).decode() + ":" for c in columns if type(c) is str]
    lengths = np.fromiter(map(len, data), np.int64, len(data))
    out_bytes = int(lengths.sum()) + len(data) * sum(map(len, keys))
    if (
        not data
        or not width
        or len(set(columns)) < width
        or len(keys) < width
        or out_bytes > MAX_REWRITE_BYTES
    ):
        return pa.array([_object_text(columns, raw) for raw in data], pa.string())
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    text = pa.StringArray.from_buffers(
        len(data), pa.py_buffer(offsets), pa.py_buffer(b"".join(data))
    )
    simple = _one_numeric_row(text, offsets, width, pc)
    if not simple.all():
        if not simple.any():
            return pa.array([_object_text(columns, raw) for raw in data], pa.string())
        # Rewrite the simple ones together, parse the others; keep the order.
        some = [raw for raw, one in zip(data, simple, strict=True) if one]
        rewritten = iter(_objects(columns, some, pa).to_pylist())
        return pa.array(
            [
                next(rewritten) if one else _object_text(columns, raw)
                for raw, one in zip(data, simple, strict=True)
            ],
            pa.string(),
        )
    values = pc.split_pattern(pc.utf8_slice_codeunits(text, 2, -2), ",").flatten()
    parts: list[Any] = ["[{"]
    for j, key in enumerate(keys):
        parts += ["," + key if j else key, values.take(np.arange(j, len(values), width))]
    return pc.binary_join_element_wise(*parts, "}]", "")


# One row of non-empty values with no string, object or nested list in it: ``[[v,v,...]]``.
_ONE_ROW = r'^\[\[[^,\[\]"{}\s]+(?:,[^,\[\]"{}\s]+)*\]\]$'


def _one_numeric_row(text: Any, offsets: Any, width: int, pc: Any) -> Any:
    """Which requests of ``text`` (an Arrow string array whose value ``i`` spans
    ``offsets[i]`` to ``offsets[i + 1]`` of its data) are one row of exactly ``width`` non-empty
    values without strings or nesting: ``[[v,v,...]]``."""
    simple = pc.match_substring_regex(text, _ONE_ROW).to_numpy(zero_copy_only=False)
    size = int(offsets[-1])
    flags = np.zeros(size + 1, bool)  # one byte more, so that every start is an index
    flags[:size] = np.frombuffer(text.buffers()[2], np.uint8, size) == ord(",")
    commas = np.add.reduceat(flags, offsets[:-1], dtype=np.int64)
    commas[offsets[:-1] == offsets[1:]] = 0  # reduceat gives an empty slice its next byte
    simple &= commas == width - 1
    return simple


def _object_text(columns: Sequence[str], raw: bytes) -> str:
    rows = orjson.loads(raw)
    return orjson.dumps([dict(zip(columns, r, strict=False)) for r in rows]).decode()


_NAMES: Callable[[tuple[Any, Any]], Any] = operator.itemgetter(0)
_DATA: Callable[[tuple[Any, Any]], Any] = operator.itemgetter(1)


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
