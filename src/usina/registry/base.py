"""The registry store protocol: the SQL store implements it today, an HTTP store later."""

from __future__ import annotations

from typing import Protocol

from usina.registry.entities import AliasChange, ModelVersion, RegisteredModel
from usina.registry.signature import Signature
from usina.registry.uri import ModelRef


class RegistryStore(Protocol):
    """Models, their numbered versions, and aliases with an append-only history."""

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

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model."""
        ...

    def list_versions(self, name: str) -> list[ModelVersion]:
        """The versions of ``name``, newest first."""
        ...

    def set_alias(self, name: str, alias: str, version: int, reason: str = "") -> AliasChange:
        """Point ``alias`` at ``version``, recording the move."""
        ...

    def rollback(self, name: str, alias: str = "champion", reason: str = "") -> AliasChange:
        """Move ``alias`` back to the version it held before its current one."""
        ...

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        """Every recorded move of the model's aliases, oldest first."""
        ...
