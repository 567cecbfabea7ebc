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
from usina.errors import InvalidInput


def query_tables(
    store: ArtifactStore, query: str, limit: int | None = None, datasets: Any = None
) -> Any:
    """The result of ``query`` over the tables of ``store``, as a ``pyarrow.Table`` (at most
    ``limit`` rows); ``None`` for a statement that returns nothing. With ``datasets`` (a
    ``usina.Client``), each of its datasets is a view of its latest version too.

    Raises:
        InvalidInput: the query failed (a syntax error, an unknown table or column); ``field``
            is ``query``.

    Example:
        >>> query_tables(store, "select run_date, count(*) as n from credit_scores group by all")
        ...  # doctest: +SKIP
    """
    import tempfile

    import duckdb

    with tempfile.TemporaryDirectory(prefix="usina-sql-") as scratch:
        connection = connect_tables(store, scratch)
        try:
            if datasets is not None:
                from usina.datasets.query import add_dataset_views

                add_dataset_views(connection, datasets, scratch)
            relation = connection.sql(query)
            if relation is None:
                return None
            if limit is not None:
                relation = relation.limit(limit)
            return relation.to_arrow_table()
        except duckdb.Error as exc:  # a bad query is the user's
            raise InvalidInput(
                f"the query failed: {str(exc).splitlines()[0]}", field="query"
            ) from None
        finally:
            connection.close()


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
