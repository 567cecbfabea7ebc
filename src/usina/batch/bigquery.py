"""Export a published partition of a batch table to BigQuery, as one load job.

The partition's Parquet files are joined, row group by row group, into one local Parquet file
(so memory holds one row group at a time), which is uploaded with a load job of source format
``PARQUET``. One load job is atomic in BigQuery: the destination shows all of the partition's
rows or none of them.

A rerun replaces what the previous run loaded:

- a partition of one column holding a date (``run_date=2026-12-01``) is loaded into the
  partition decorator ``TABLE$20261201`` of a table partitioned by day on that column (created
  so on the first load; the column is loaded as ``DATE``). ``truncate`` replaces that day only;
- any other partition (several columns, a value that is not a date) or a whole table: with
  ``truncate`` the load replaces the whole destination table, so export each such partition to
  its own table, or use ``append`` and accept that a rerun adds its rows again.

Tested to the HTTP request (a loopback server answering as BigQuery does); it has not run
against BigQuery itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

from usina.artifacts import ArtifactStore
from usina.batch.tables import check_table_name, partition_path, table_prefix
from usina.errors import InvalidInput, MissingDependency, NotFound

DISPOSITIONS = {"truncate": "WRITE_TRUNCATE", "append": "WRITE_APPEND"}
# A project id may hold a domain (example.com:project); dataset and table ids hold no dots.
_DESTINATION = re.compile(r"([a-z0-9][a-z0-9.\-:]{0,127})\.(\w{1,1024})\.(\w{1,1024})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class BigQueryExport:
    """What an export loaded: where, how many rows from which files, by which load job."""

    table: str
    partition: dict[str, str]
    destination: str
    write_disposition: str
    rows: int
    files: tuple[str, ...]
    job_id: str


def parse_destination(value: str) -> tuple[str, str, str]:
    """``PROJECT.DATASET.TABLE`` (a ``bigquery:`` prefix allowed) as its three parts."""
    text = value.removeprefix("bigquery:") if isinstance(value, str) else ""
    found = _DESTINATION.fullmatch(text)
    if found is None:
        raise InvalidInput(
            f"destination {value!r} is not bigquery:PROJECT.DATASET.TABLE (for example "
            "bigquery:my-project.scores.credit_scores)",
            field="to",
        )
    return found.group(1), found.group(2), found.group(3)


def day_partition(partition: dict[str, str]) -> tuple[str, str] | None:
    """``(column, YYYYMMDD)`` when the partition is one column holding a date, else ``None``."""
    if len(partition) != 1:
        return None
    ((column, value),) = partition.items()
    if not _DATE.fullmatch(value):
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    return column, day.strftime("%Y%m%d")


def export_bigquery(
    store: ArtifactStore,
    table: str,
    partition: dict[str, str] | None,
    destination: str,
    *,
    write_disposition: str = "truncate",
    bigquery_client: Any = None,
    timeout: float = 600.0,
) -> BigQueryExport:
    """Load ``table``'s published ``partition`` into BigQuery's ``destination``.

    Args:
        store: the artifact store holding ``tables/`` (``client.artifacts``).
        table: the batch output table (``credit_scores``).
        partition: the partition to load (``{"run_date": "2026-12-01"}``); ``None`` for a table
            written without partitions.
        destination: ``PROJECT.DATASET.TABLE`` (a ``bigquery:`` prefix allowed).
        write_disposition: ``truncate`` (a rerun replaces, see the module docstring) or
            ``append``.
        bigquery_client: a ``google.cloud.bigquery.Client``; one for the destination's project
            with Application Default Credentials when ``None``.
        timeout: seconds to wait for the load job.

    Raises:
        InvalidInput: a bad table, partition, destination or disposition; ``NotFound``: the
            partition has no published files.
    """
    check_table_name(table)
    partition = {str(k): str(v) for k, v in (partition or {}).items()}
    partition_path(partition)
    project, dataset, name = parse_destination(destination)
    if write_disposition not in DISPOSITIONS:
        raise InvalidInput(
            f"write disposition {write_disposition!r} is not truncate or append",
            field="write_disposition",
        )
    prefix = table_prefix(table, partition)
    files = sorted(k for k in store.list(prefix) if k.endswith(".parquet"))
    if partition:
        files = [k for k in files if k.startswith(f"{prefix}/")]
    else:
        files = [k for k in files if "=" not in k[len(prefix) :]]
    if not files:
        where = partition_path(partition) or "(whole table)"
        raise NotFound(
            f"table {table} has no published files in {where}; 'usina sql' shows what is there",
            field="partition",
        )

    try:
        from google.cloud import bigquery
    except ImportError:
        raise MissingDependency(
            "exporting to BigQuery needs google-cloud-bigquery: pip install 'usina[bigquery]'"
        ) from None

    day = day_partition(partition)
    target = f"{project}.{dataset}.{name}"
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        write_disposition=DISPOSITIONS[write_disposition],
    )
    if day is not None:
        column, stamp = day
        target = f"{target}${stamp}"
        config.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY, field=column
        )
    if bigquery_client is None:
        bigquery_client = bigquery.Client(project=project)
    with tempfile.TemporaryDirectory(prefix="usina-export-") as folder:
        joined = os.path.join(folder, "partition.parquet")
        rows = _join(store, files, joined, date_column=day[0] if day else None)
        with open(joined, "rb") as data:
            job = bigquery_client.load_table_from_file(
                data, target, job_config=config, project=project
            )
        job.result(timeout=timeout)
    return BigQueryExport(
        table, partition, target, write_disposition, rows, tuple(files), str(job.job_id)
    )


def _join(store: ArtifactStore, keys: list[str], path: str, date_column: str | None) -> int:
    """Write ``keys``' Parquet files into one file at ``path``, one row group at a time
    (``date_column`` as a date, for a table partitioned by day); returns the rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer: Any = None
    rows = 0
    try:
        for key in keys:
            with tempfile.NamedTemporaryFile(suffix=".parquet") as local:
                with store.open(key) as data:
                    shutil.copyfileobj(data, local)
                local.flush()
                part = pq.ParquetFile(local.name)
                for group in range(part.num_row_groups):
                    chunk = part.read_row_group(group)
                    if date_column is not None and date_column in chunk.column_names:
                        at = chunk.schema.get_field_index(date_column)
                        dates = chunk.column(at).cast(pa.date32())
                        chunk = chunk.set_column(at, pa.field(date_column, pa.date32()), dates)
                    if writer is None:
                        writer = pq.ParquetWriter(path, chunk.schema, compression="zstd")
                    writer.write_table(chunk)
                    rows += chunk.num_rows
    finally:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
    return rows
