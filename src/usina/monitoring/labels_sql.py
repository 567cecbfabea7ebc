"""Labels in the metadata database (table ``labels``), checked against the request log."""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.artifacts import ArtifactStore
from usina.monitoring.labels import Label, LabelReceipt, check_endpoint, check_labels, resolve
from usina.store import Database
from usina.store import schema as t
from usina.store.paging import check_page

_CHUNK = 500  # keys per IN list: well under SQLite's and PostgreSQL's parameter limits


class SqlLabelStore:
    """Ingest and list labels on the database; requests are looked up in ``artifacts``."""

    def __init__(self, db: Database, artifacts: ArtifactStore, actor: str = "local") -> None:
        self.db = db
        self.artifacts = artifacts
        self.actor = actor

    def ingest(
        self, endpoint: str, labels: Iterable[Mapping[str, Any]], now: float | None = None
    ) -> LabelReceipt:
        check_endpoint(endpoint)
        items = check_labels(labels)
        if not items:
            return LabelReceipt(endpoint, 0, 0)
        resolved = resolve(self.artifacts, endpoint, items)
        when = time.time() if now is None else float(now)
        latest: dict[tuple[str, int], Any] = {}
        for rid, row, value in resolved:  # the later of two labels in one batch wins
            latest[(rid, row)] = value
        within = len(resolved) - len(latest)
        rows = [
            {
                "endpoint": endpoint,
                "request_id": rid,
                "row": row,
                "label": orjson.dumps(value).decode(),
                "time": when,
                "created_by": self.actor,
            }
            for (rid, row), value in latest.items()
        ]
        c = t.labels.c

        def tx(conn: Connection) -> int:
            keys = list(latest)
            existing = 0
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                ids = sorted({rid for rid, _ in chunk})
                query = sa.select(c.request_id, c.row).where(
                    c.endpoint == endpoint, c.request_id.in_(ids)
                )
                old = {(r.request_id, r.row) for r in conn.execute(query)} & set(chunk)
                existing += len(old)
                if old:
                    conn.execute(
                        t.labels.delete().where(
                            c.endpoint == endpoint,
                            sa.tuple_(c.request_id, c.row).in_(sorted(old)),
                        )
                    )
            conn.execute(t.labels.insert(), rows)
            return existing

        replaced = self.db.write(tx)
        return LabelReceipt(endpoint, len(rows), replaced + within)

    def list(
        self, endpoint: str, *, since: float | None = None, limit: int = 1000, offset: int = 0
    ) -> builtins.list[Label]:
        check_endpoint(endpoint)
        check_page(limit, offset)
        c = t.labels.c
        query = (
            sa.select(t.labels)
            .where(c.endpoint == endpoint)
            .order_by(c.time, c.request_id, c.row)
            .limit(limit)
            .offset(offset)
        )
        if since is not None:
            query = query.where(c.time >= float(since))
        with self.db.read() as conn:
            return [
                Label(r.endpoint, r.request_id, r.row, orjson.loads(r.label), r.time, r.created_by)
                for r in conn.execute(query)
            ]

    def table(self, endpoint: str, since: float | None = None) -> Any:
        """The endpoint's labels received at or after ``since`` as an Arrow table (request_id,
        row, label as JSON text), for joining to the request log."""
        import pyarrow as pa

        c = t.labels.c
        query = sa.select(c.request_id, c.row, c.label).where(c.endpoint == endpoint)
        if since is not None:
            query = query.where(c.time >= float(since))
        with self.db.read() as conn:
            # The driver's cursor, not SQLAlchemy rows: a window's labels can be 100,000 rows,
            # and building a Row for each costs more than the query.
            compiled = query.compile(dialect=conn.dialect)
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                if conn.dialect.paramstyle == "qmark":
                    params: Any = tuple(compiled.params[k] for k in compiled.positiontup or ())
                else:
                    params = compiled.params
                cursor.execute(str(compiled), params)
                rows = cursor.fetchall()
            finally:
                cursor.close()
        ids, numbers, values = zip(*rows, strict=True) if rows else ((), (), ())
        return pa.table(
            {
                "request_id": pa.array(ids, pa.string()),
                "row": pa.array(numbers, pa.int64()),
                "label": pa.array(values, pa.string()),
            }
        )
