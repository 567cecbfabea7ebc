"""Datasets: named, versioned tables, each version one content-addressed Parquet file in the
artifact store with its schema, row count, digest and profile, and the expectations a new
version must meet (see docs/data.md).

    >>> import usina.datasets  # doctest: +SKIP
    >>> usina.datasets.ingest("applications.csv", "applications")  # doctest: +SKIP
    >>> usina.datasets.expect("applications", {"kind": "volume", "max_drop": 0.3})  # doctest: +SKIP
    >>> usina.datasets.set_policy("applications", "pii.yaml")  # doctest: +SKIP
"""

from usina.datasets.api import diff, expect, ingest, load, save, set_policy, validate
from usina.datasets.entities import Dataset, DatasetVersion, parse_dataset_uri
from usina.datasets.expectations import ExpectationFailed, Report

__all__ = [
    "Dataset",
    "DatasetVersion",
    "ExpectationFailed",
    "Report",
    "diff",
    "expect",
    "ingest",
    "load",
    "parse_dataset_uri",
    "save",
    "set_policy",
    "validate",
]
