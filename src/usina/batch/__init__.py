"""Batch prediction: score a table with the version an alias points at, into a partitioned
table in the artifact store (see docs/batch.md)."""

from usina.batch.bigquery import BigQueryExport, export_bigquery
from usina.batch.job import BatchRun, run, score_table
from usina.batch.sources import open_input
from usina.batch.tables import Publication, list_tables, recover

__all__ = [
    "BatchRun",
    "BigQueryExport",
    "Publication",
    "export_bigquery",
    "list_tables",
    "open_input",
    "recover",
    "run",
    "score_table",
]
