"""The dataset store protocol: ``SqlDatasetStore`` on the database, ``HttpDatasetStore`` on a
server. Both pass ``usina.testing.check_dataset_store``.

Example:
    >>> from usina.datasets.entities import VersionIn
    >>> from usina.datasets.sql import SqlDatasetStore
    >>> from usina.store import Database
    >>> store = SqlDatasetStore(Database("sqlite://"))
    >>> columns = ({"name": "age", "type": "int64"},)
    >>> got = store.register("applications", VersionIn("a" * 64, columns, rows=10, bytes=900))
    >>> got.version.version, got.created
    (1, True)
    >>> store.set_policy("applications", {"columns": {"cpf": "redact"}}).pii_policy["columns"]
    {'cpf': {'operator': 'redact'}}
"""

from __future__ import annotations

import builtins
from typing import Any, Protocol

from usina.datasets.entities import Dataset, DatasetVersion, Registered, VersionIn


class DatasetStore(Protocol):
    """Datasets, their versions and expectations."""

    def register(self, name: str, version: VersionIn) -> Registered:
        """Record the next version of ``name`` (creating the dataset); a version of ``name``
        with the same digest is returned instead, ``created=False``."""
        ...

    def get(self, name: str) -> Dataset:
        """One dataset; ``NotFound`` if absent."""
        ...

    def list(self, *, limit: int = 100, offset: int = 0) -> builtins.list[Dataset]:
        """Datasets by name."""
        ...

    def versions(
        self, name: str, *, limit: int = 100, offset: int = 0
    ) -> builtins.list[DatasetVersion]:
        """Versions of ``name``, newest first; ``NotFound`` if the dataset is absent."""
        ...

    def get_version(self, name: str, version: int | None = None) -> DatasetVersion:
        """One version (the latest for ``None``); ``NotFound`` if absent."""
        ...

    def set_expectations(self, name: str, expectations: builtins.list[dict[str, Any]]) -> Dataset:
        """Replace the expectations of ``name`` (creating the dataset)."""
        ...

    def set_policy(self, name: str, policy: dict[str, Any] | None) -> Dataset:
        """Keep ``policy`` (a PII policy, docs/pii.md) on ``name`` (creating the dataset), or
        clear it with ``None``. Every version registered from then on must be written under it
        (``VersionIn.pii_policy``); a malformed policy is refused and nothing stored."""
        ...
