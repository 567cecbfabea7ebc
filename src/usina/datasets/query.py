"""Datasets as DuckDB views: ``select * from applications`` reads the latest version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usina.artifacts import blob_key
from usina.artifacts.sealed import refuse_sealed
from usina.datasets.profile import quote

MAX_VIEWS = 1000


def add_dataset_views(connection: Any, client: Any, scratch: str) -> list[str]:
    """One view per dataset with a version, named after it, unless a view of that name
    exists already (an output table's); returns the names added. A local artifact folder is
    read in place, any other store copied to ``scratch`` first."""
    existing = {
        row[0] for row in connection.execute("select view_name from duckdb_views()").fetchall()
    }
    added = []
    root = getattr(client.artifacts, "root", None)
    for dataset in client.datasets.list(limit=MAX_VIEWS):
        if not dataset.latest or dataset.name in existing:
            continue
        version = client.datasets.get_version(dataset.name, dataset.latest)
        key = blob_key(version.digest)
        if isinstance(root, Path):
            path = str(root / key)
            refuse_sealed([path])  # sealed files read without the key: a clear error
        else:
            target = Path(scratch, "datasets", f"{version.digest}.parquet")
            target.parent.mkdir(parents=True, exist_ok=True)
            with client.artifacts.open(key) as data, open(target, "wb") as out:
                while chunk := data.read(1 << 20):
                    out.write(chunk)
            path = str(target)
        literal = "'" + path.replace("'", "''") + "'"
        connection.execute(
            f"create view {quote(dataset.name)} as select * from read_parquet({literal})"
        )
        added.append(dataset.name)
    return added
