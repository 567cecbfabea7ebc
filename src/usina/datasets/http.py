"""Datasets kept by a usina server, through its REST API: the same protocol as
``SqlDatasetStore`` (which the server runs), the same checks before anything is sent. A
version's Parquet file travels through the artifact routes; only its record comes here."""

from __future__ import annotations

import builtins
from typing import Any

from usina.connection import ServerConnection
from usina.datasets.entities import (
    Dataset,
    DatasetVersion,
    Registered,
    VersionIn,
    check_name,
    check_pii_policy,
    check_version_in,
    check_version_number,
)
from usina.datasets.expectations import check_expectations
from usina.store.paging import check_page

PAGE = 1000


def dataset_from_json(d: dict[str, Any]) -> Dataset:
    return Dataset(**{**d, "expectations": tuple(d["expectations"])})


def version_from_json(d: dict[str, Any]) -> DatasetVersion:
    return DatasetVersion(**{**d, "schema": tuple(d["schema"])})


class HttpDatasetStore:
    """Datasets on the server ``server`` talks to (``usina.datasets.base.DatasetStore``)."""

    def __init__(self, server: ServerConnection) -> None:
        self.server = server

    def register(self, name: str, version: VersionIn) -> Registered:
        check_name(name)
        v = check_version_in(version)
        body = {**v.__dict__, "schema": list(v.schema)}
        found = self.server.call("POST", f"/datasets/{name}/versions", json=body)
        return Registered(version_from_json(found["version"]), bool(found["created"]))

    def get(self, name: str) -> Dataset:
        check_name(name)
        return dataset_from_json(self.server.call("GET", f"/datasets/{name}"))

    def list(self, *, limit: int = 100, offset: int = 0) -> builtins.list[Dataset]:
        check_page(limit, offset)
        return [dataset_from_json(d) for d in self._pages("/datasets", limit, offset)]

    def versions(
        self, name: str, *, limit: int = 100, offset: int = 0
    ) -> builtins.list[DatasetVersion]:
        check_name(name)
        check_page(limit, offset)
        found = self._pages(f"/datasets/{name}/versions", limit, offset)
        return [version_from_json(v) for v in found]

    def get_version(self, name: str, version: int | None = None) -> DatasetVersion:
        check_name(name)
        if version is not None:
            check_version_number(version)
        which = "latest" if version is None else str(version)
        return version_from_json(self.server.call("GET", f"/datasets/{name}/versions/{which}"))

    def set_expectations(self, name: str, expectations: builtins.list[dict[str, Any]]) -> Dataset:
        check_name(name)
        checked = check_expectations(expectations)
        body = {"expectations": list(checked)}
        return dataset_from_json(
            self.server.call("PUT", f"/datasets/{name}/expectations", json=body)
        )

    def set_policy(self, name: str, policy: dict[str, Any] | None) -> Dataset:
        check_name(name)
        checked = check_pii_policy(policy)
        if checked is None:
            return dataset_from_json(self.server.call("DELETE", f"/datasets/{name}/policy"))
        body = {"policy": checked}
        return dataset_from_json(self.server.call("PUT", f"/datasets/{name}/policy", json=body))

    def _pages(self, path: str, limit: int, offset: int) -> builtins.list[dict[str, Any]]:
        items: builtins.list[dict[str, Any]] = []
        while len(items) < limit:
            want = min(PAGE, limit - len(items))
            page = self.server.call("GET", path, params={"limit": want, "offset": offset})
            items.extend(page["items"])
            if page["next_offset"] is None:
                break
            offset = page["next_offset"]
        return items
