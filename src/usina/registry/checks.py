"""The checks a registry write runs, in one place: ``SqlRegistryStore`` calls them inside its
transactions, and a server's routes only call that store, so every backend refuses alike."""

from __future__ import annotations

import math
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.artifacts import ArtifactStore, blob_key
from usina.errors import InvalidInput, NotFound
from usina.store import schema as t

_RUN_ID = re.compile(r"[0-9a-f]{32}")


def check_metrics(metrics: Any) -> dict[str, float]:
    """A version's metrics: names to finite numbers."""
    if not isinstance(metrics, dict):
        raise InvalidInput("version metrics are a mapping of names to numbers", field="metrics")
    for key, value in metrics.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidInput(
                f"version metric {key!r} is {value!r}; metrics are finite numbers",
                field="metrics",
            )
    return dict(metrics)


def check_size(size: Any) -> int:
    """A blob's size in bytes."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidInput(f"size {size!r} is not a byte count", field="size")
    return size


def require_blob(artifacts: ArtifactStore, digest: str) -> None:
    """Refuse a version whose blob the artifact store does not hold."""
    if not artifacts.exists(blob_key(digest)):
        raise NotFound(
            f"no blob sha256:{digest[:12]}... in the artifact store; store the model's bytes "
            f"first (upload them to /api/v1/artifacts/{blob_key(digest)} on a server)",
            field="digest",
        )


def require_run(conn: Connection, run_id: str) -> None:
    """Refuse a version that names a run the tracking tables do not hold.

    The check reads the runs table of the same database inside the version's transaction, so
    the run cannot be missing when the version commits; the registry imports nothing of
    ``usina.tracking`` for it.
    """
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise InvalidInput(
            f"run id {run_id!r} is not valid; give the run's full 32-character id",
            field="run_id",
        )
    if conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
        raise NotFound(f"no run with id {run_id!r}; see 'usina runs list'", field="run_id")
