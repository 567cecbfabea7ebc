"""The request log of one endpoint as a DuckDB view, limited to the files a window needs.

The log is partitioned by ``endpoint=NAME/date=YYYY-MM-DD``; a window reads only the date
partitions it overlaps, so a check costs the window's rows, not the log's. Local stores are
read in place; other stores are copied into memory first (see ``usina.serving.logquery``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from usina.artifacts import ArtifactStore
from usina.serving.logfiles import PREFIX

_EMPTY = (
    "select * from (select ''::varchar request_id, now()::timestamptz time, "
    "''::varchar endpoint, ''::varchar model, 0::integer version, false shadow, "
    "''::varchar protocol, 0::smallint status, 0.0::double latency_ms, ''::varchar inputs, "
    "''::varchar outputs, ''::varchar error) where false"
)


def days(start: float, end: float) -> list[str]:
    """The UTC dates ``[start, end)`` touches, as ``YYYY-MM-DD``."""
    first = dt.datetime.fromtimestamp(start, dt.UTC).date()
    last = dt.datetime.fromtimestamp(max(start, end - 1e-6), dt.UTC).date()
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def log_keys(
    store: ArtifactStore, endpoint: str, start: float | None = None, end: float | None = None
) -> list[str]:
    """The Parquet files of ``endpoint``'s log; with a window, only its date partitions."""
    base = f"{PREFIX}/endpoint={endpoint}"
    if start is None or end is None:
        return sorted(k for k in store.list(base) if k.endswith(".parquet"))
    found: list[str] = []
    for day in days(start, end):
        found.extend(k for k in store.list(f"{base}/date={day}") if k.endswith(".parquet"))
    return sorted(found)


def connect(
    store: ArtifactStore, endpoint: str, start: float | None = None, end: float | None = None
) -> Any:
    """A DuckDB connection with a ``requests`` view over the files of ``endpoint``'s log that
    ``[start, end)`` needs (all of them without a window). Rows are not filtered by time here:
    queries do that, and the view holds whole days."""
    import duckdb

    conn = duckdb.connect()
    keys = log_keys(store, endpoint, start, end)
    if not keys:
        conn.execute(f"create view requests as {_EMPTY}")
        return conn
    root = getattr(store, "root", None)
    if root is not None:
        # Views take no parameters; store keys are checked plain paths, quotes are doubled.
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
