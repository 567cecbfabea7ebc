"""The registry on a usina server, through its REST API: the same protocol as the SQL store."""

from __future__ import annotations

from typing import Any

from usina.connection import ServerConnection, segment
from usina.registry.checks import check_metrics
from usina.registry.entities import AliasChange, ModelVersion, RegisteredModel
from usina.registry.signature import Column, Signature
from usina.registry.uri import ModelRef, check_alias, check_model_name

PAGE = 1000


def version_from_json(data: dict[str, Any]) -> ModelVersion:
    """A ``ModelVersion`` from the server's JSON."""
    return ModelVersion(
        name=data["name"],
        version=data["version"],
        digest=data["digest"],
        size=data["size"],
        format=data["format"],
        model_class=data["model_class"],
        signature=Signature(
            tuple(Column(c["name"], c["dtype"]) for c in data["signature"]["inputs"])
        ),
        metrics=dict(data["metrics"]),
        run_id=data["run_id"],
        description=data["description"],
        created_at=data["created_at"],
        created_by=data["created_by"],
        aliases=tuple(data["aliases"]),
    )


def model_from_json(data: dict[str, Any]) -> RegisteredModel:
    """A ``RegisteredModel`` from the server's JSON."""
    return RegisteredModel(
        data["name"],
        data["description"],
        data["created_at"],
        data["created_by"],
        data["latest_version"],
        dict(data["aliases"]),
    )


def change_from_json(data: dict[str, Any]) -> AliasChange:
    """An ``AliasChange`` from the server's JSON."""
    return AliasChange(
        data["name"],
        data["alias"],
        data["action"],
        data["from_version"],
        data["to_version"],
        data["actor"],
        data["reason"],
        data["at"],
    )


class HttpRegistryStore:
    """Models, versions and aliases kept by the server ``server`` talks to."""

    def __init__(self, server: ServerConnection) -> None:
        self.server = server

    def _model(self, name: str) -> str:
        return f"/models/{segment(check_model_name(name))}"

    def create_version(
        self,
        name: str,
        *,
        digest: str,
        size: int,
        format: str,
        model_class: str,
        signature: Signature,
        metrics: dict[str, float],
        run_id: str | None = None,
        description: str = "",
    ) -> ModelVersion:
        # JSON has no NaN: refuse it here as the SQL store does, naming the same field.
        metrics = check_metrics(metrics)
        body = {
            "digest": digest,
            "size": size,
            "format": format,
            "model_class": model_class,
            "signature": {"inputs": [{"name": c.name, "dtype": c.dtype} for c in signature.inputs]},
            "metrics": {k: float(v) for k, v in metrics.items()},
            "run_id": run_id,
            "description": description,
        }
        return version_from_json(
            self.server.call("POST", f"{self._model(name)}/versions", json=body)
        )

    def resolve(self, ref: ModelRef) -> ModelVersion:
        base = self._model(ref.name)
        if ref.alias:
            return version_from_json(
                self.server.call("GET", f"{base}/aliases/{segment(check_alias(ref.alias))}")
            )
        if ref.version:
            return version_from_json(self.server.call("GET", f"{base}/versions/{int(ref.version)}"))
        return version_from_json(self.server.call("GET", f"{base}/latest"))

    def get_model(self, name: str) -> RegisteredModel:
        return model_from_json(self.server.call("GET", self._model(name)))

    def list_models(
        self,
        name: str | None = None,
        alias: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RegisteredModel]:
        return [
            model_from_json(m)
            for m in self._pages("/models", {"name": name, "alias": alias}, limit, offset)
        ]

    def list_versions(
        self,
        name: str,
        *,
        alias: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ModelVersion]:
        params = {"alias": alias, "since": since, "until": until}
        return [
            version_from_json(v)
            for v in self._pages(f"{self._model(name)}/versions", params, limit, offset)
        ]

    def set_alias(self, name: str, alias: str, version: int, reason: str = "") -> AliasChange:
        route = f"{self._model(name)}/aliases/{segment(check_alias(alias))}"
        return change_from_json(
            self.server.call("PUT", route, json={"version": version, "reason": reason})
        )

    def delete_alias(self, name: str, alias: str, reason: str = "") -> AliasChange:
        route = f"{self._model(name)}/aliases/{segment(check_alias(alias))}"
        return change_from_json(
            self.server.call("DELETE", route, params={"reason": reason or None})
        )

    def rollback(self, name: str, alias: str = "champion", reason: str = "") -> AliasChange:
        route = f"{self._model(name)}/aliases/{segment(check_alias(alias))}/rollback"
        return change_from_json(self.server.call("POST", route, json={"reason": reason}))

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        items = self.server.call("GET", f"{self._model(name)}/history", params={"alias": alias})[
            "items"
        ]
        return [change_from_json(c) for c in items]

    def _pages(
        self, route: str, params: dict[str, Any], limit: int | None, offset: int
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        next_offset: int | None = offset
        while next_offset is not None:
            want = PAGE if limit is None else min(PAGE, limit - len(found))
            page = self.server.call(
                "GET", route, params={**params, "limit": want, "offset": next_offset}
            )
            found.extend(page["items"])
            next_offset = page["next_offset"]
            if limit is not None and len(found) >= limit:
                break
        return found
