"""Datasets as step inputs: a ``datasets:/name@latest`` or ``datasets:/name/3`` argument is
resolved when the step is about to run, read as a ``Dataset`` (its lineage link and cache key
are the version's digest), and checked against its dataset's expectations first: a version
that fails one fails the step, with the report naming each failed expectation and the value
observed. A step writes a version with ``usina.datasets.save``, which records the step's run
as its producer and is checked the same way."""

from __future__ import annotations

from typing import Any

from usina.datasets.entities import parse_dataset_uri
from usina.datasets.expectations import ExpectationFailed
from usina.datasets.validation import validate_version
from usina.pipelines.step_context import current_step
from usina.pipelines.types import DATASET, Artifact


def is_dataset_uri(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("datasets:/")


def resolve_input(backend: Any, uri: str) -> Artifact:
    """The artifact a step reads for ``uri``: the version it points at now."""
    name, number = parse_dataset_uri(uri)
    version = backend.datasets.get_version(name, number)
    return Artifact(
        DATASET,
        version.digest,
        version.bytes,
        rows=version.rows,
        extra={"dataset": version.name, "version": version.version},
    )


def check_input(artifact: Artifact) -> None:
    """Validate a dataset version a step is about to read against its expectations.

    Raises:
        ExpectationFailed: the version fails one; the step fails with the report.
    """
    name = artifact.extra.get("dataset")
    step = current_step()
    client = step.backend if step is not None else None
    if not name or client is None or not hasattr(client, "datasets"):
        return
    if not client.datasets.get(name).expectations:
        return
    report = validate_version(client, f"datasets:/{name}/{artifact.extra['version']}")
    if not report.ok:
        raise ExpectationFailed(report)
