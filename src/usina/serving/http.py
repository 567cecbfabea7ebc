"""Endpoints on a usina server, through its REST API: the same protocol as the SQL store."""

from __future__ import annotations

import builtins
import dataclasses
from typing import Any

from usina.connection import ServerConnection, segment
from usina.errors import InvalidInput
from usina.serving.entities import Deployment, Endpoint
from usina.serving.logquery import VersionStats

PAGE = 1000


def endpoint_from_json(data: dict[str, Any]) -> Endpoint:
    """An ``Endpoint`` from the server's JSON."""
    return Endpoint(
        name=data["name"],
        model=data["model"],
        alias=data["alias"],
        deployments=tuple(Deployment(d["version"], d["traffic"]) for d in data["deployments"]),
        shadow_version=data["shadow_version"],
        sample_rate=data["sample_rate"],
        max_batch_size=data["max_batch_size"],
        max_latency_ms=data["max_latency_ms"],
        generation=data["generation"],
        created_at=data["created_at"],
        created_by=data["created_by"],
        updated_at=data["updated_at"],
        log_policy=data.get("log_policy"),
    )


def stats_from_json(data: dict[str, Any]) -> VersionStats:
    """A ``VersionStats`` from the server's JSON: every field the record has, by name."""
    return VersionStats(**{f.name: data[f.name] for f in dataclasses.fields(VersionStats)})


class HttpEndpointStore:
    """Endpoints kept by the server ``server`` talks to.

    Example:
        >>> store = HttpEndpointStore(ServerConnection("http://127.0.0.1:8080"))  # doctest: +SKIP
        >>> store.list()  # doctest: +SKIP
        []
    """

    def __init__(self, server: ServerConnection) -> None:
        self.server = server

    def _endpoint(self, name: str) -> str:
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"endpoint name {name!r} is not valid", field="endpoint")
        return f"/endpoints/{segment(name)}"

    def create(
        self,
        name: str,
        model_uri: str,
        *,
        sample_rate: float = 1.0,
        max_batch_size: int = 0,
        max_latency_ms: float = 5.0,
    ) -> Endpoint:
        body = {
            "name": name,
            "model": model_uri,
            "sample_rate": sample_rate,
            "max_batch_size": max_batch_size,
            "max_latency_ms": max_latency_ms,
        }
        return endpoint_from_json(self.server.call("POST", "/endpoints", json=body))

    def get(self, name: str) -> Endpoint:
        return endpoint_from_json(self.server.call("GET", self._endpoint(name)))

    def list(self, limit: int | None = None, offset: int = 0) -> builtins.list[Endpoint]:
        found: builtins.list[Endpoint] = []
        next_offset: int | None = offset
        while next_offset is not None:
            want = PAGE if limit is None else min(PAGE, limit - len(found))
            page = self.server.call(
                "GET", "/endpoints", params={"limit": want, "offset": next_offset}
            )
            found.extend(endpoint_from_json(e) for e in page["items"])
            next_offset = page["next_offset"]
            if limit is not None and len(found) >= limit:
                break
        return found

    def stats(self, name: str, since_s: float = 3600.0) -> builtins.list[VersionStats]:
        items = self.server.call("GET", f"{self._endpoint(name)}/stats", params={"since": since_s})
        return [stats_from_json(s) for s in items["items"]]

    def split(self, name: str, split: dict[int, int]) -> Endpoint:
        if not isinstance(split, dict):
            raise InvalidInput(f"split {split!r} is not a mapping", field="split")
        body = {"deployments": [{"version": v, "traffic": s} for v, s in split.items()]}
        return endpoint_from_json(
            self.server.call("PUT", f"{self._endpoint(name)}/split", json=body)
        )

    def follow(self, name: str, alias: str) -> Endpoint:
        return endpoint_from_json(
            self.server.call("PUT", f"{self._endpoint(name)}/follow", json={"alias": alias})
        )

    def set_shadow(self, name: str, version: int | None) -> Endpoint:
        return endpoint_from_json(
            self.server.call("PUT", f"{self._endpoint(name)}/shadow", json={"version": version})
        )

    def configure(
        self,
        name: str,
        *,
        sample_rate: float | None = None,
        max_batch_size: int | None = None,
        max_latency_ms: float | None = None,
    ) -> Endpoint:
        body = {
            k: v
            for k, v in (
                ("sample_rate", sample_rate),
                ("max_batch_size", max_batch_size),
                ("max_latency_ms", max_latency_ms),
            )
            if v is not None
        }
        return endpoint_from_json(self.server.call("PATCH", self._endpoint(name), json=body))

    def set_log_policy(self, name: str, policy: dict[str, Any] | None) -> Endpoint:
        path = f"{self._endpoint(name)}/log-policy"
        if policy is None:
            return endpoint_from_json(self.server.call("DELETE", path))
        from usina.privacy.policy import check_policy  # the server checks it again

        body = {"policy": check_policy(policy)}
        return endpoint_from_json(self.server.call("PUT", path, json=body))

    def delete(self, name: str) -> None:
        self.server.call("DELETE", self._endpoint(name))
