"""SQL over the request log with DuckDB, and the latency, error and drop figures of an endpoint.

The log's Parquet files are exposed as one view, ``requests`` (columns: request_id, time,
endpoint, model, version, shadow, protocol, status, latency_ms, inputs, outputs, error). Local
stores are read in place; other stores are copied into memory first, which is fine for the
windows an operator queries and is the limitation to know about for months of logs.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from usina.artifacts import ArtifactStore
from usina.artifacts.parquet import read_parquet
from usina.artifacts.sealed import refuse_sealed
from usina.errors import InvalidInput
from usina.serving.logfiles import DROPS_PREFIX, PREFIX


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of a query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class VersionStats:
    """Latency percentiles and error rate of a version (``None``: no version answered), and
    the rows of its requests the log dropped (by reason: ``queue_full``, ``store_error``,
    ``writer_crash``), which the other figures leave out."""

    version: int | None
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


_DATABASE: Any = None
_DATABASE_LOCK = threading.Lock()


def _database() -> Any:
    """One in-memory DuckDB database per process: opening one costs tens of milliseconds, a
    cursor of it (a connection of its own, with its own temporary views) almost nothing."""
    global _DATABASE
    with _DATABASE_LOCK:
        if _DATABASE is None:
            import duckdb

            _DATABASE = duckdb.connect()
        return _DATABASE


def _connect(store: ArtifactStore, endpoint: str | None = None, *, shared: bool = True) -> Any:
    """A connection with the ``requests`` view; ``shared=False`` opens a database of its own
    (for SQL a caller wrote, which must not leave tables behind for later queries)."""
    if shared:
        conn = _database().cursor()
    else:
        import duckdb

        conn = duckdb.connect()
    prefix = f"{PREFIX}/endpoint={endpoint}" if endpoint else PREFIX
    keys = [k for k in store.list(prefix) if k.endswith(".parquet")]
    if not keys:
        conn.execute(
            "create temp view requests as select * from (select ''::varchar request_id, "
            "now()::timestamptz time, ''::varchar endpoint, ''::varchar model, 0::integer version, "
            "false shadow, ''::varchar protocol, 0::smallint status, 0.0::double latency_ms, "
            "''::varchar inputs, ''::varchar outputs, ''::varchar error) where false"
        )
        return conn
    root = getattr(store, "root", None)
    if root is not None:
        refuse_sealed(root / k for k in keys)
        # Views cannot take parameters; store keys are checked plain paths, quotes are doubled.
        files = ", ".join("'" + str(root / k).replace("'", "''") + "'" for k in keys)
        conn.execute(
            f"create temp view requests as select * from read_parquet([{files}], "
            "union_by_name = true)"
        )
        return conn
    import pyarrow as pa

    tables = []
    for key in keys:
        with store.open(key) as f:
            tables.append(read_parquet(f.read()))
    conn.register("requests_arrow", pa.concat_tables(tables, promote_options="default"))
    conn.execute("create temp view requests as select * from requests_arrow")
    return conn


def query_log(store: ArtifactStore, sql: str) -> QueryResult:
    """Run ``sql`` (DuckDB dialect) over the ``requests`` view of the request log."""
    import duckdb

    conn = _connect(store, shared=False)
    try:
        cursor = conn.execute(sql)
    except duckdb.Error as exc:
        raise InvalidInput(
            f"the query failed: {str(exc).splitlines()[0]}; query the view 'requests'", field="sql"
        ) from None
    columns = [d[0] for d in cursor.description] if cursor.description else []
    return QueryResult(columns, cursor.fetchall())


def endpoint_stats(
    store: ArtifactStore, endpoint: str, since_s: float = 3600.0
) -> list[VersionStats]:
    """p50/p95/p99 latency, error rate and dropped log rows per version over the last
    ``since_s`` seconds.

    Figures come from the request log, so they cover the sampled requests, and shadow answers
    are left out. A version whose rows were all dropped appears with 0 requests.
    """
    conn = _connect(store, endpoint)
    rows = conn.execute(
        """
        select version, count(*), count(*) filter (where status >= 400),
               quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.95),
               quantile_cont(latency_ms, 0.99)
        from requests
        where endpoint = ? and not shadow and time >= to_timestamp(?)
        group by version order by version nulls last
        """,
        [endpoint, time.time() - since_s],
    ).fetchall()
    found = {r[0]: VersionStats(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows}
    for version, dropped in _drops(store, endpoint, since_s).items():
        stats = found.get(version) or VersionStats(version, 0, 0, None, None, None)
        found[version] = replace(stats, dropped=dropped)
    return sorted(found.values(), key=lambda s: (s.version is None, s.version or 0))


@dataclass(frozen=True)
class SeriesPoint:
    """One version's figures in one time bucket (``start``: epoch seconds)."""

    start: float
    version: int | None
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class EndpointSeries:
    """An endpoint's figures over a window: per version and bucket (``points``, oldest
    first; an empty bucket has none), and per version over the whole window (``stats``, as
    ``endpoint_stats`` gives them). ``width`` is a bucket's length in seconds."""

    width: float
    points: list[SeriesPoint]
    stats: list[VersionStats]


def endpoint_series(
    store: ArtifactStore, endpoint: str, since_s: float = 3600.0, buckets: int = 60
) -> EndpointSeries:
    """Requests, errors and p50/p95/p99 latency per version over time: the last ``since_s``
    seconds cut into ``buckets`` equal buckets (shadow answers left out), and the window's
    figures per version, in one pass over the log (grouping sets)."""
    width = max(since_s / max(buckets, 1), 1.0)
    start = time.time() - since_s
    conn = _connect(store, endpoint)
    try:
        rows = conn.execute(
            """
            select floor((epoch(time) - ?) / ?)::bigint b, version, count(*),
                   count(*) filter (where status >= 400),
                   quantile_cont(latency_ms, [0.5, 0.95, 0.99])
            from requests
            where endpoint = ? and not shadow and time >= to_timestamp(?)
            group by grouping sets ((b, version), (version))
            order by b nulls first, version nulls last
            """,
            [start, width, endpoint, start],
        ).fetchall()
    finally:
        conn.close()
    points: list[SeriesPoint] = []
    found: dict[int | None, VersionStats] = {}
    for bucket, version, count, errors, q in rows:
        p50, p95, p99 = q if q is not None else (None, None, None)
        if bucket is None:
            found[version] = VersionStats(version, count, errors, p50, p95, p99)
        else:
            points.append(
                SeriesPoint(start + bucket * width, version, count, errors, p50, p95, p99)
            )
    for version, dropped in _drops(store, endpoint, since_s).items():
        stats = found.get(version) or VersionStats(version, 0, 0, None, None, None)
        found[version] = replace(stats, dropped=dropped)
    ordered = sorted(found.values(), key=lambda s: (s.version is None, s.version or 0))
    return EndpointSeries(width, points, ordered)


def _drops(store: ArtifactStore, endpoint: str, since_s: float) -> dict[int | None, dict[str, int]]:
    """Rows of ``endpoint`` the log dropped in the window, by version and reason (not shadow)."""
    import pyarrow as pa

    prefix = f"{DROPS_PREFIX}/endpoint={endpoint}"
    since_us = int((time.time() - since_s) * 1_000_000)
    found: dict[int | None, Counter[str]] = {}
    for key in store.list(prefix):
        if not key.endswith(".parquet"):
            continue
        with store.open(key) as f:
            table = read_parquet(f.read())
        columns = table.to_pydict()
        for when, version, shadow, reason, rows in zip(
            table.column("time").cast(pa.int64()).to_pylist(),
            columns["version"],
            columns["shadow"],
            columns["reason"],
            columns["rows"],
            strict=True,
        ):
            if not shadow and when >= since_us:
                found.setdefault(version, Counter())[reason] += rows
    return {v: dict(sorted(c.items())) for v, c in found.items()}
