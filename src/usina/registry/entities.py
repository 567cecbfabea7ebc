"""What the registry returns: frozen records."""

from __future__ import annotations

from dataclasses import dataclass, field

from usina.registry.signature import Signature


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model: its name, newest version number and current aliases."""

    name: str
    description: str
    created_at: float
    created_by: str
    latest_version: int
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVersion:
    """An immutable version: the artifact's digest and format, signature, metrics, lineage."""

    name: str
    version: int
    digest: str
    size: int
    format: str
    model_class: str
    signature: Signature
    metrics: dict[str, float]
    run_id: str | None
    description: str
    created_at: float
    created_by: str
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class AliasChange:
    """One move of an alias: who, when, from which version to which, and why."""

    name: str
    alias: str
    action: str
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str
    at: float
