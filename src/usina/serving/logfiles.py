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
import struct
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import orjson

from usina.serving.jsonbytes import dumps, json_inputs, raw_rows

PREFIX = "request-log"
DROPS_PREFIX = "request-log-drops"
# Rows looked at between two pauses of the writer, and the rows per record batch (each batch
# costs ~0.1 ms however small): see ``row_files``.
CHUNK_ROWS = 32
SEAL_ROWS = 64

# Columns with few distinct values, dictionary-encoded; the others (request ids, inputs, times)
# are nearly all distinct, and trying a dictionary on them cost a fifth of a file's write.
# Rows are made into Arrow dictionary arrays of these columns already (``packed_batch``), which
# Parquet writes as they are, without hashing every row's value again; files do not keep
# Arrow's schema, so readers see the plain types (``_schema``), as in files written before.
DICTIONARY_COLUMNS = ["endpoint", "model", "version", "shadow", "protocol", "status", "error"]
# Columns whose minimum and maximum a file records, for readers to skip files by: not the
# request ids, inputs and outputs, whose bounds would tell a query nothing.
STATISTICS_COLUMNS = [*DICTIONARY_COLUMNS, "time", "latency_ms"]

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
    return table_file(pa.Table.from_batches(columns.batches), endpoint, day, name)


def table_file(table: Any, endpoint: str, day: str, name: str) -> tuple[str, bytes]:
    """The key and Parquet bytes of a table of rows (``packed_batch``'s schema)."""
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(
        table,
        buffer,
        compression="zstd",
        use_dictionary=DICTIONARY_COLUMNS,
        write_statistics=STATISTICS_COLUMNS,
        store_schema=False,
    )
    return f"{PREFIX}/endpoint={endpoint}/date={day}/{name}", buffer.getvalue()


def table_groups(table: Any) -> dict[tuple[str, str], Any]:
    """The rows of ``table`` by the file they go to: (endpoint, UTC day), as tables."""
    import pyarrow.compute as pc

    if not table.num_rows:
        return {}
    seconds = pc.divide(table["time"].cast("int64"), 1_000_000).to_numpy()
    days = seconds // 86_400
    endpoints = _distinct(table["endpoint"])
    if len(endpoints) == 1 and days.min() == days.max():
        return {(endpoints[0], _day(float(seconds[0]))): table}
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (endpoint, second) in enumerate(
        zip(table["endpoint"].to_pylist(), seconds.tolist(), strict=True)
    ):
        groups.setdefault((endpoint, _day(second)), []).append(i)
    return {key: table.take(indices) for key, indices in groups.items()}


def table_keys(table: Any) -> Counter[RowKey]:
    """The rows of ``table`` counted by key (endpoint, version, shadow)."""
    names = ("endpoint", "version", "shadow")
    only = [_distinct(table[c]) for c in names]
    if all(len(u) == 1 for u in only):  # the usual table: one key
        return Counter({tuple(u[0] for u in only): table.num_rows})
    columns = [table[c].to_pylist() for c in names]
    return Counter(zip(*columns, strict=True))


def _distinct(column: Any) -> list[Any]:
    """The distinct values of one of the ``DICTIONARY_COLUMNS`` of a table of rows: told from
    its chunks' dictionaries when each holds one value and no row is null (the usual table),
    otherwise by hashing every row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = set()
    for chunk in column.chunks:
        if not pa.types.is_dictionary(chunk.type) or chunk.null_count or len(chunk.dictionary) != 1:
            return pc.unique(column).to_pylist()
        values.add(chunk.dictionary[0].as_py())
    return list(values)


def table_drops(table: Any, reason: str) -> Counter[DropKey]:
    """The drop records of the rows of ``table``, dropped for ``reason``."""
    import pyarrow.compute as pc

    seconds = pc.divide(table["time"].cast("int64"), 1_000_000).to_pylist()
    columns = [table[c].to_pylist() for c in ("endpoint", "version", "shadow")]
    return Counter(
        (second, endpoint, version, shadow, reason)
        for second, endpoint, version, shadow in zip(seconds, *columns, strict=True)
    )


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
        rows, self.pending = self.pending, []
        self.batches.append(packed_batch(pack_rows(rows), pa))


# -- rows as columns ------------------------------------------------------------------------
#
# A batch of rows crosses the pipe to the writer process as columns (``pack_rows``), which
# costs the serving process less than pickling each row and the writer almost nothing to
# read: times as float64 bytes, request ids joined by NUL, a column whose rows all hold one
# value as that value once, raw float inputs joined; the writer makes the record batch
# (``packed_batch``) without a Python object per row. Rows written in the serving process take
# the same way, without the pipe.

Packed = dict[str, Any]


def pack_rows(rows: Sequence[Row]) -> Packed:
    """``rows`` as columns: see ``packed_batch`` for the record batch they make."""
    n = len(rows)
    if not n:
        return {"n": 0}
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
    ) = zip(*rows, strict=True)
    ids = "\x00".join(request_id)
    return {
        "n": n,
        # An id holding NUL itself (one a request body named) goes as the column it is.
        "request_id": ids if ids.count("\x00") == n - 1 else request_id,
        "time": array("d", times).tobytes(),
        "latency_ms": array("d", latency_ms).tobytes(),
        "endpoint": _same(endpoint, n),
        "model": _same(model, n),
        "version": _same(version, n),
        "shadow": _same(shadow, n),
        "protocol": _same(protocol, n),
        "status": _same(status, n),
        "error": _same(error, n),
        "inputs": _pack_inputs(inputs),
        "outputs": _pack_outputs(outputs),
    }


# The usual row's key: (endpoint, model, version, protocol, input column names).
UsualKey = tuple[str, str, int, str, tuple[str, ...]]


# The fixed fields of a usual row's record, after its inputs: time (seconds), latency (ms),
# bytes of its outputs.
USUAL_HEAD = struct.Struct("<ddq")


class UsualRows:
    """The usual rows of one key and one number of rows a request, kept as records.

    The usual row answers 200, is no shadow, has raw float64 inputs of the key's columns and
    JSON outputs. Serving appends one record a request (``RequestLog.append_usual``): its
    inputs' float64 bytes and its fixed fields (``USUAL_HEAD``) to one buffer, its outputs to a
    second, its id to a list, instead of queueing a tuple of objects. A second of traffic is
    a few buffers, not tens of thousands of objects each request allocates and the hand-over
    frees again; and a request touches three buffers' ends, which matters more than the work
    itself on a busy server, where every buffer it touches has left the CPU's caches since the
    request before. The hand-over turns the records into the columns ``pack_rows`` makes.
    """

    __slots__ = (
        "endpoint",
        "ids",
        "key",
        "model",
        "names",
        "outputs",
        "protocol",
        "records",
        "rows",
        "shape",
        "version",
    )

    def __init__(self, key: UsualKey, shape: tuple[int, int]) -> None:
        self.key = key
        self.endpoint, self.model, self.version, self.protocol, self.names = key
        self.shape = shape  # of each request's inputs
        self.rows = shape[0]  # rows in each request
        self.ids: list[str] = []
        self.records = bytearray()  # per request: rows x len(names) float64, then USUAL_HEAD
        self.outputs = bytearray()  # the JSON outputs, one after another

    def __len__(self) -> int:
        return len(self.ids)

    def packed(self) -> Packed:
        """These rows as ``pack_rows`` makes rows: see ``packed_batch``."""
        n = len(self.ids)
        ids = "\x00".join(self.ids)
        width = len(self.names)
        values = self.rows * width
        kind = np.dtype(
            [("inputs", "<f8", (values,)), ("time", "<f8"), ("latency", "<f8"), ("size", "<i8")]
        )
        records = np.frombuffer(self.records, kind, n)
        return {
            "n": n,
            "request_id": ids if ids.count("\x00") == n - 1 else tuple(self.ids),
            "time": records["time"].tobytes(),
            "latency_ms": records["latency"].tobytes(),
            "endpoint": (self.endpoint,),
            "model": (self.model,),
            "version": (self.version,),
            "shadow": (False,),
            "protocol": (self.protocol,),
            "status": (200,),
            "error": (None,),
            "inputs": {
                "names": self.names,
                "width": width,
                "raw": records["inputs"].tobytes(),
                "sizes": (8 * values, n),
            },
            "outputs": {"json": bytes(self.outputs), "sizes": _same_sizes(records["size"])},
        }


def _same_sizes(sizes: Any) -> tuple[int, int] | bytes:
    """``_sizes`` of lengths already counted, as a NumPy int64 array."""
    if len(sizes) and (sizes == sizes[0]).all():
        return (int(sizes[0]), len(sizes))
    return sizes.astype(np.int64).tobytes()


def packed_keys(packed: Packed) -> Counter[RowKey]:
    """The rows of ``packed`` counted by key (endpoint, version, shadow)."""
    n = packed["n"]
    if not n:
        return Counter()
    columns = [packed["endpoint"], packed["version"], packed["shadow"]]
    if all(len(c) == 1 for c in columns):
        return Counter({(columns[0][0], columns[1][0], columns[2][0]): n})
    endpoint, version, shadow = (c * n if len(c) == 1 else c for c in columns)
    return Counter(zip(endpoint, version, shadow, strict=True))


def packed_batch(packed: Packed, pa: Any) -> Any:
    """The record batch of a ``pack_rows`` result, in the log's schema."""
    n = packed["n"]
    if not n:
        return pa.RecordBatch.from_pylist([], schema=_schema(pa, dictionaries=True))
    ids = packed["request_id"]
    if isinstance(ids, str):
        import pyarrow.compute as pc

        request_id = pc.split_pattern(pa.array([ids], pa.string()), "\x00").flatten()
    else:
        request_id = pa.array(ids, pa.string())
    times = np.frombuffer(packed["time"], np.float64)
    return pa.record_batch(
        {
            "request_id": request_id,
            "time": pa.array((times * 1_000_000).astype(np.int64), pa.timestamp("us", tz="UTC")),
            "endpoint": _unpack(packed["endpoint"], n, pa.string(), pa),
            "model": _unpack(packed["model"], n, pa.string(), pa),
            "version": _unpack(packed["version"], n, pa.int32(), pa),
            "shadow": _unpack(packed["shadow"], n, pa.bool_(), pa),
            "protocol": _unpack(packed["protocol"], n, pa.string(), pa),
            "status": _unpack(packed["status"], n, pa.int16(), pa),
            "latency_ms": pa.array(np.frombuffer(packed["latency_ms"], np.float64), pa.float64()),
            "inputs": _unpack_inputs(packed["inputs"], pa),
            "outputs": _unpack_outputs(packed["outputs"], pa),
            "error": _unpack(packed["error"], n, pa.string(), pa),
        }
    )


def _schema(pa: Any, dictionaries: bool = False) -> Any:
    """The log's columns; with ``dictionaries``, as ``packed_batch`` makes them (the
    ``DICTIONARY_COLUMNS`` as dictionary arrays of their type)."""
    schema = pa.schema(
        [
            ("request_id", pa.string()),
            ("time", pa.timestamp("us", tz="UTC")),
            ("endpoint", pa.string()),
            ("model", pa.string()),
            ("version", pa.int32()),
            ("shadow", pa.bool_()),
            ("protocol", pa.string()),
            ("status", pa.int16()),
            ("latency_ms", pa.float64()),
            ("inputs", pa.string()),
            ("outputs", pa.string()),
            ("error", pa.string()),
        ]
    )
    if not dictionaries:
        return schema
    for name in DICTIONARY_COLUMNS:
        i = schema.get_field_index(name)
        schema = schema.set(i, pa.field(name, pa.dictionary(pa.int32(), schema.field(i).type)))
    return schema


def _same(column: tuple[Any, ...], n: int) -> tuple[Any, ...]:
    """A column whose rows all hold one value, as that value once."""
    first = column[0]
    return (first,) if column.count(first) == n else column


def _unpack(column: tuple[Any, ...], n: int, kind: Any, pa: Any) -> Any:
    """One of the ``DICTIONARY_COLUMNS`` as a dictionary array: a column whose rows all hold
    one value (the usual batch) as that value once and ``n`` indices to it."""
    if len(column) == 1:
        dictionary = pa.array(column, kind)
        if column[0] is None:
            return pa.DictionaryArray.from_arrays(pa.nulls(n, pa.int32()), dictionary[:0])
        return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), dictionary)
    return pa.array(column, kind).dictionary_encode()


def _pack_inputs(inputs: tuple[Any, ...]) -> Any:
    """Raw float inputs of one signature (``jsonbytes.RawRows``) as their names, width and
    joined bytes; any other mix as the column it is."""
    first = inputs[0]
    n = len(inputs)
    if (
        type(first) is tuple
        and len(first) == 3
        and set(map(type, inputs)) == {tuple}
        and set(map(len, inputs)) == {3}
        and list(map(_NAMES, inputs)).count(first[0]) == n
        and list(map(_WIDTH, inputs)).count(first[2]) == n
    ):
        data = list(map(_DATA, inputs))
        return {"names": first[0], "width": first[2], "raw": b"".join(data), "sizes": _sizes(data)}
    return inputs


def _unpack_inputs(inputs: Any, pa: Any) -> Any:
    if isinstance(inputs, dict):
        sizes = _unsizes(inputs["sizes"], len(inputs["raw"]))
        return _raw_objects(inputs["names"], inputs["width"], inputs["raw"], sizes, pa)
    return _json_column(inputs, pa)


def _pack_outputs(outputs: tuple[Any, ...]) -> Any:
    """Outputs that are all JSON bytes, joined, with their sizes; any other mix as it is."""
    if set(map(type, outputs)) == {bytes}:
        return {"json": b"".join(outputs), "sizes": _sizes(outputs)}
    return outputs


def _unpack_outputs(outputs: Any, pa: Any) -> Any:
    if isinstance(outputs, dict):
        data = outputs["json"]
        sizes = _unsizes(outputs["sizes"], len(data))
        if len(data) <= MAX_REWRITE_BYTES:
            offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int32)
            column = pa.BinaryArray.from_buffers(
                pa.binary(), len(sizes), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
            )
            return column.cast(pa.string())
        ends = np.cumsum(sizes).tolist()
        starts = [0, *ends[:-1]]
        return pa.array([data[a:b] for a, b in zip(starts, ends, strict=True)], pa.string())
    return _json_column(outputs, pa)


def _sizes(values: Sequence[bytes]) -> tuple[int, int] | bytes:
    """The lengths of ``values``: (length, count) when they are all one length (the usual
    batch), or int64 bytes."""
    lengths = list(map(len, values))
    if lengths.count(lengths[0]) == len(lengths):
        return (lengths[0], len(lengths))
    return array("q", lengths).tobytes()


def _unsizes(sizes: tuple[int, int] | bytes, total: int) -> Any:
    if isinstance(sizes, tuple):
        return np.full(sizes[1], sizes[0], np.int64)
    return np.frombuffer(sizes, np.int64)


def _json_column(values: tuple[Any, ...], pa: Any) -> Any:
    """A string column of the values as JSON text (``None`` stays null).

    Values that are JSON bytes already (outputs, and inputs once protected) become the column
    in one cast, without a Python string per row. Inputs kept as (column names, JSON rows) under
    one signature are checked once for the batch instead of row by row, and one-row numeric
    requests are rewritten as objects by array operations (``_objects``); inputs kept raw
    (``jsonbytes.RawRows``) under one signature are encoded a column at a time
    (``_raw_objects``).
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
        forms = set(map(len, present))
        column = None
        if len(names) == 1 and columns and forms == {2} and set(map(type, data)) == {bytes}:
            column = _objects(columns, data, pa)
        elif len(names) == 1 and columns and forms == {3} and len(set(map(_WIDTH, present))) == 1:
            sizes = np.fromiter(map(len, data), np.int64, len(data))
            column = _raw_objects(columns, present[0][2], b"".join(data), sizes, pa)
        if column is not None:
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
    return _join_objects(keys, values, pc)


def _join_objects(keys: list[str], values: Any, pc: Any) -> Any:
    """One ``[{...}]`` text per row of ``values`` (the rows' value texts, one after another,
    ``len(keys)`` to a row), each value after its key."""
    width = len(keys)
    parts: list[Any] = ["[{"]
    for j, key in enumerate(keys):
        parts += ["," + key if j else key, values.take(np.arange(j, len(values), width))]
    return pc.binary_join_element_wise(*parts, "}]", "")


def _raw_objects(columns: Sequence[str], width: int, raw: bytes, sizes: Any, pa: Any) -> Any:
    """Raw float inputs (``jsonbytes.RawRows``: ``sizes`` bytes each, one after another in
    ``raw``) as JSON objects under ``columns``, the text ``_json`` makes.

    When every request is one row, which is the usual case, each column is encoded by one
    call of orjson, its values split out of the text and joined again between the keys by
    Arrow's string kernels. Requests of several rows are encoded one by one.
    """
    import pyarrow.compute as pc

    n = len(sizes)
    keys = [orjson.dumps(c).decode() + ":" for c in columns if type(c) is str]
    if not n:
        return pa.array([], pa.string())
    one_row = bool((sizes == 8 * width).all())
    fits = len(raw) * 4 + n * sum(map(len, keys)) <= MAX_REWRITE_BYTES  # ~25 bytes a value
    if (
        not one_row
        or not fits
        or not width
        or len(columns) != width
        or len(keys) < width
        or len(set(columns)) < width
    ):
        ends = np.cumsum(sizes).tolist()
        starts = [0, *ends[:-1]]
        return pa.array(
            [
                _object_text(columns, dumps(raw_rows(raw[a:b], width)))
                for a, b in zip(starts, ends, strict=True)
            ],
            pa.string(),
        )
    by_column = np.ascontiguousarray(raw_rows(raw, width).T)
    # Each column's texts carry what goes before them (``[{`` or a comma, and the key) and
    # after (``}]`` for the last): the join then puts arrays side by side, with no scalars.
    parts = [
        _number_texts(
            dumps(by_column[j]),
            n,
            pa,
            ("[{" if j == 0 else ",").encode() + key.encode(),
            b"}]" if j == width - 1 else b"",
        )
        for j, key in enumerate(keys)
    ]
    return parts[0] if width == 1 else pc.binary_join_element_wise(*parts, "")


def _number_texts(text: bytes, n: int, pa: Any, before: bytes = b"", after: bytes = b"") -> Any:
    """The ``n`` values of ``text``, orjson's ``[v,v,...]`` of numbers (or null), as an Arrow
    string array, each between ``before`` and ``after``: the commas found by NumPy, the
    values' bytes with ``after`` and ``before`` in place of the commas as its data."""
    inner = text[1:-1]
    commas = np.flatnonzero(np.frombuffer(inner, np.uint8) == ord(","))
    extra = len(before) + len(after)
    offsets = np.empty(n + 1, np.int32)
    offsets[0] = 0
    # each value ends at its comma, less the commas before it, plus what was added before
    offsets[1:-1] = commas - np.arange(n - 1) + np.arange(1, n) * extra
    offsets[-1] = len(inner) - (n - 1) + n * extra
    data = b"".join((before, inner.replace(b",", after + before), after))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


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
_WIDTH: Callable[[tuple[Any, Any, Any]], Any] = operator.itemgetter(2)


def _json(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, tuple):  # (column names, JSON rows): rows as objects
        names, data = json_inputs(value)
        rows = orjson.loads(data) if isinstance(data, bytes) else data
        value = [dict(zip(names, row, strict=False)) for row in rows] if names else rows
    return dumps(value).decode()
