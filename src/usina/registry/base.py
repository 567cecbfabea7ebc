"""The registry store protocols: ``SqlRegistryStore`` on the database, ``HttpRegistryStore`` on
a server. Both pass ``usina.testing.check_registry_store``."""

from __future__ import annotations

from typing import Protocol

from usina.registry.entities import AliasChange, ModelVersion, RegisteredModel
from usina.registry.signature import Signature
from usina.registry.uri import ModelRef


class VersionStore(Protocol):
    """Registered models and their immutable, numbered versions."""

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
        """Add the next version of ``name`` (the model is created on first use)."""
        ...

    def resolve(self, ref: ModelRef) -> ModelVersion:
        """The version a reference points at; ``NotFound`` names what is missing."""
        ...

    def get_model(self, name: str) -> RegisteredModel:
        """One registered model; ``NotFound`` if absent."""
        ...

    def list_models(
        self,
        name: str | None = None,
        alias: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RegisteredModel]:
        """Models by name, those whose name contains ``name`` and that hold ``alias``."""
        ...

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
        """The versions of ``name``, newest first (created in ``[since, until)``)."""
        ...


class AliasStore(Protocol):
    """Movable names for versions, with an append-only history of every move."""

    def set_alias(self, name: str, alias: str, version: int, reason: str = "") -> AliasChange:
        """Point ``alias`` at ``version``, recording the move."""
        ...

    def delete_alias(self, name: str, alias: str, reason: str = "") -> AliasChange:
        """Remove ``alias``, recording the move."""
        ...

    def rollback(self, name: str, alias: str = "champion", reason: str = "") -> AliasChange:
        """Move ``alias`` back to the version it held before its current one."""
        ...

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        """Every recorded move of the model's aliases, oldest first."""
        ...


class RegistryStore(VersionStore, AliasStore, Protocol):
    """Models, their numbered versions, and aliases with an append-only history."""
