"""SQL over the request log with DuckDB, and the latency and error figures of an endpoint.

The log's Parquet files are exposed as one view, ``requests`` (columns: request_id, time,
endpoint, model, version, shadow, protocol, status, latency_ms, inputs, outputs, error). Local
stores are read in place; other stores are copied into memory first, which is fine for the
windows an operator queries and is the limitation to know about for months of logs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from usina.artifacts import ArtifactStore
from usina.errors import InvalidInput
from usina.serving.requestlog import PREFIX


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of a query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class VersionStats:
    """Latency percentiles and error rate of a version (``None``: no version answered)."""

    version: int | None
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def _connect(store: ArtifactStore, endpoint: str | None = None) -> Any:
    import duckdb

    conn = duckdb.connect()
    prefix = f"{PREFIX}/endpoint={endpoint}" if endpoint else PREFIX
    keys = [k for k in store.list(prefix) if k.endswith(".parquet")]
    if not keys:
        conn.execute(
            "create view requests as select * from (select ''::varchar request_id, "
            "now()::timestamptz time, ''::varchar endpoint, ''::varchar model, 0::integer version, "
            "false shadow, ''::varchar protocol, 0::smallint status, 0.0::double latency_ms, "
            "''::varchar inputs, ''::varchar outputs, ''::varchar error) where false"
        )
        return conn
    root = getattr(store, "root", None)
    if root is not None:
        # Views cannot take parameters; store keys are checked plain paths, quotes are doubled.
        files = ", ".join("'" + str(root / k).replace("'", "''") + "'" for k in keys)
        conn.execute(
            f"create view requests as select * from read_parquet([{files}], union_by_name = true)"
        )
        return conn
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for key in keys:
        with store.open(key) as f:
            tables.append(pq.read_table(pa.BufferReader(f.read())))
    conn.register("requests_arrow", pa.concat_tables(tables, promote_options="default"))
    conn.execute("create view requests as select * from requests_arrow")
    return conn


def query_log(store: ArtifactStore, sql: str) -> QueryResult:
    """Run ``sql`` (DuckDB dialect) over the ``requests`` view of the request log."""
    import duckdb

    conn = _connect(store)
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
    """p50/p95/p99 latency and error rate per version over the last ``since_s`` seconds.

    Figures come from the request log, so they cover the sampled requests, and shadow answers
    are left out.
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
    return [VersionStats(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]
