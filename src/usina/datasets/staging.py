"""A version staged as one Parquet file on local disk, written the canonical way, so the same
rows with the same schema in the same order give the same bytes and so the same digest.

Canonical means: the schema without metadata (no pandas index, no writer notes), row groups
of exactly ``ROW_GROUP`` rows (the last one shorter) whatever batches the rows arrived in,
zstd compression, statistics on, and this pyarrow's Parquet writer (its version is in the
file, so a different pyarrow may write different bytes for the same rows).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from usina.datasets.readers import Progress

ROW_GROUP = 262_144
CHUNK = 1 << 20


@dataclass(frozen=True)
class Staged:
    """A staged Parquet file: where, its Arrow schema, rows, size and SHA-256."""

    path: str
    schema: Any
    rows: int
    bytes: int
    digest: str

    def columns(self) -> tuple[dict[str, str], ...]:
        return tuple({"name": f.name, "type": str(f.type)} for f in self.schema)


def canonical_schema(schema: Any) -> Any:
    return schema.remove_metadata()


def write_parquet(
    path: str, schema: Any, batches: Iterable[Any], progress: Progress | None = None
) -> Staged:
    """Write ``batches`` (all of ``schema``) to ``path`` in canonical row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = canonical_schema(schema)
    rows = 0
    pending: list[Any] = []
    pending_rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd", write_statistics=True) as writer:

        def flush(count: int) -> None:
            nonlocal pending, pending_rows
            table = pa.Table.from_batches(pending, schema=schema)
            writer.write_table(table.slice(0, count), row_group_size=ROW_GROUP)
            rest = table.slice(count)
            pending = rest.to_batches() if rest.num_rows else []
            pending_rows = rest.num_rows

        for batch in batches:
            if batch.num_rows == 0:
                continue
            if batch.schema != schema:
                batch = pa.RecordBatch.from_arrays(batch.columns, schema=schema)
            pending.append(batch)
            pending_rows += batch.num_rows
            rows += batch.num_rows
            while pending_rows >= ROW_GROUP:
                flush(ROW_GROUP)
            if progress is not None:
                progress(batch.num_rows)
        if pending_rows:
            flush(pending_rows)
    return Staged(path, schema, rows, os.path.getsize(path), file_digest(path))


def file_digest(path: str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()
