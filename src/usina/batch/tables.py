"""Partitioned output tables in the artifact store, published whole or not at all.

A table is Parquet files under ``tables/<name>/``, one folder per partition named the Hive way
(``tables/credit_scores/run_date=2026-12-01/part-<attempt>-00000.parquet``), which DuckDB,
BigQuery external tables and Spark read as a partitioned table.

How a partition is replaced, with only what every artifact store offers (atomic ``write`` of one
key, ``list``, ``delete``):

1. **Stage.** Every file of the job goes under ``tables/.staging/<attempt>/`` (a hidden prefix no
   table reads). A job that fails or is killed here leaves only staged files, which nothing reads,
   and the partition as it was.
2. **Commit.** One key, ``tables/.staging/<attempt>/COMMIT``, lists the files and the partitions
   they replace. Its atomic write is the commit point.
3. **Publish.** Each staged file is copied to its partition under a name carrying the attempt,
   then every file of that partition from earlier attempts is deleted, then the staging prefix.
   A job killed during publishing leaves its COMMIT, and the next job that writes any table
   (or :func:`recover`) finishes the publish first (roll forward), so the partition ends as the
   committed attempt wrote it.

On a local folder each copy is a rename-into-place of a complete file, and readers that list
the partition while step 3 runs can see old and new files together for that moment (the copy
is a few file writes; no file is ever partial). On an object store (GCS, S3) the same holds
with longer windows, since each copy is a server-side copy. The guarantee is therefore: no
partial file ever, no partial partition after a crash (staged files are invisible; a committed
publish is finished by the next writer), and a rerun replaces its partition wholly.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from usina.artifacts import ArtifactStore
from usina.artifacts.sealed import refuse_sealed
from usina.errors import InvalidInput

TABLES = "tables"
STAGING = f"{TABLES}/.staging"
# An uncommitted staging prefix this old belongs to a job that died; it is removed.
ABANDONED_AFTER = 24 * 3600.0
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_PART_VALUE = re.compile(r"[A-Za-z0-9._\-+@,~]{1,200}")


def check_table_name(name: str) -> str:
    """A table name: a letter or ``_``, then letters, digits and ``_`` (it is a SQL view name)."""
    if not isinstance(name, str) or not _TABLE.fullmatch(name) or name.startswith("_"):
        raise InvalidInput(
            f"table name {name!r} is not valid; use a letter, then letters, digits and '_' "
            "(for example credit_scores)",
            field="output",
        )
    return name


def partition_path(partition: dict[str, str] | None) -> str:
    """``run_date=2026-12-01/region=sp`` for a partition; empty for a whole table."""
    if not partition:
        return ""
    parts = []
    for key, value in partition.items():
        if not isinstance(key, str) or not _TABLE.fullmatch(key):
            raise InvalidInput(
                f"partition column {key!r} is not valid; use letters, digits and '_'",
                field="partition",
            )
        text = str(value)
        if not _PART_VALUE.fullmatch(text):
            raise InvalidInput(
                f"partition value {text!r} of {key!r} is not valid; use letters, digits and "
                "'._-+@,~' (for example 2026-12-01)",
                field="partition",
            )
        parts.append(f"{key}={text}")
    return "/".join(parts)


def table_prefix(table: str, partition: dict[str, str] | None) -> str:
    path = partition_path(partition)
    return f"{TABLES}/{table}/{path}" if path else f"{TABLES}/{table}"


def list_tables(store: ArtifactStore) -> dict[str, list[str]]:
    """Every published table and its Parquet files' keys."""
    found: dict[str, list[str]] = {}
    for key in store.list(TABLES):
        parts = key.split("/")
        if len(parts) < 3 or parts[1].startswith(".") or not key.endswith(".parquet"):
            continue
        found.setdefault(parts[1], []).append(key)
    return found


@dataclass
class StagedTable:
    """The files one attempt wrote for one table partition."""

    table: str
    prefix: str
    files: list[str] = field(default_factory=list)


class Publication:
    """One attempt's staged files and their publication (see the module docstring).

    Example:
        >>> from usina.artifacts import open_artifact_store
        >>> store = open_artifact_store("memory://")
        >>> pub = Publication(store)
        >>> key = pub.stage_key("scores", {"day": "1"}, 0)
        >>> store.write(key, b"PAR1...")
        >>> pub.publish()
        >>> [key.split("/")[2] for key in store.list("tables/scores")]
        ['day=1']
    """

    def __init__(self, store: ArtifactStore, attempt: str | None = None) -> None:
        self.store = store
        self.attempt = attempt or f"{int(time.time()):010d}-{uuid.uuid4().hex[:12]}"
        self.tables: dict[str, StagedTable] = {}
        self.published: list[str] = []

    @property
    def staging(self) -> str:
        return f"{STAGING}/{self.attempt}"

    def stage_key(self, table: str, partition: dict[str, str] | None, index: int) -> str:
        """The staging key of file ``index`` of ``table``'s partition; records it."""
        staged = self.tables.get(table)
        if staged is None:
            staged = self.tables[table] = StagedTable(table, table_prefix(table, partition))
        key = f"{self.staging}/{staged.prefix}/part-{index:05d}.parquet"
        staged.files.append(key)
        return key

    def declare(self, table: str, partition: dict[str, str] | None) -> None:
        """Publish ``table``'s partition even if no file is staged for it (it becomes empty)."""
        if table not in self.tables:
            self.tables[table] = StagedTable(table, table_prefix(table, partition))

    def publish(self) -> None:
        """Commit, then move the staged files into their partitions, replacing what was there."""
        manifest = {
            "attempt": self.attempt,
            "tables": [
                {"table": t.table, "prefix": t.prefix, "files": t.files}
                for t in self.tables.values()
            ],
        }
        self.store.write(f"{self.staging}/COMMIT", json.dumps(manifest).encode())
        self.published = _finish(self.store, manifest)

    def abandon(self) -> None:
        """Remove what was staged; the partitions stay as they were."""
        for key in self.store.list(self.staging):
            self.store.delete(key)


def _finish(store: ArtifactStore, manifest: dict[str, Any]) -> list[str]:
    attempt = manifest["attempt"]
    everything: list[str] = []
    staging = f"{STAGING}/{attempt}"
    for table in manifest["tables"]:
        prefix = table["prefix"]
        published = set()
        for key in table["files"]:
            target = f"{prefix}/part-{attempt}-{key.rsplit('-', 1)[1]}"
            published.add(target)
            if store.exists(key):  # absent when a previous publish of this attempt moved it
                with store.open(key) as data:
                    store.write(target, data)
                store.delete(key)
        for key in store.list(prefix):
            if key not in published and key.endswith(".parquet"):
                store.delete(key)
        everything += sorted(published)
    for key in store.list(staging):
        if not key.endswith("/COMMIT"):
            store.delete(key)
    store.delete(f"{staging}/COMMIT")
    return everything


def recover(store: ArtifactStore, now: float | None = None) -> list[str]:
    """Finish every committed publication a killed job left, and remove staging abandoned
    for over a day; returns the attempts finished."""
    now = time.time() if now is None else now
    attempts: dict[str, list[str]] = {}
    for key in store.list(STAGING):
        attempts.setdefault(key[len(STAGING) + 1 :].split("/", 1)[0], []).append(key)
    finished = []
    for attempt, keys in sorted(attempts.items()):
        commit = f"{STAGING}/{attempt}/COMMIT"
        if commit in keys:
            with store.open(commit) as data:
                _finish(store, json.loads(data.read()))
            finished.append(attempt)
        elif now - _started(attempt) > ABANDONED_AFTER:
            for key in keys:
                store.delete(key)
    return finished


def _started(attempt: str) -> float:
    head = attempt.split("-", 1)[0]
    return float(head) if head.isdigit() else 0.0


def local_table_paths(store: ArtifactStore, keys: Iterable[str]) -> list[str] | None:
    """The files' paths when the store is a local folder (DuckDB reads them in place)."""
    root = getattr(store, "root", None)
    if not isinstance(root, Path):
        return None
    paths = [str(root / key) for key in keys]
    refuse_sealed(paths)
    return paths
