"""The output tables as DuckDB views: ``select * from credit_scores where run_date = ...``.

Each table under ``tables/`` becomes a view named after it, over its Parquet files with Hive
partitioning, so partition columns (``run_date``) can be filtered on. A local artifact folder is
read in place; any other store (an object store, a server) is copied to a scratch folder
first, table by table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usina.artifacts import ArtifactStore
from usina.batch.tables import list_tables, local_table_paths


def connect_tables(store: ArtifactStore, scratch: str | Path) -> Any:
    """An in-memory DuckDB connection with one view per table of ``store``."""
    import duckdb

    connection = duckdb.connect(":memory:")
    for table, keys in sorted(list_tables(store).items()):
        paths = local_table_paths(store, keys)
        if paths is None:
            paths = []
            for key in keys:
                target = Path(scratch, key)
                target.parent.mkdir(parents=True, exist_ok=True)
                with store.open(key) as data, open(target, "wb") as out:
                    while chunk := data.read(1 << 20):
                        out.write(chunk)
                paths.append(str(target))
        listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
        connection.execute(
            f'create view "{table}" as select * from read_parquet([{listed}], '
            "hive_partitioning = true, union_by_name = true)"
        )
    return connection
