"""Endpoints and their deployments, as frozen records every endpoint store returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Deployment:
    """One version behind an endpoint and its share of traffic, in percent."""

    version: int
    traffic: int


@dataclass(frozen=True)
class Endpoint:
    """A serving name: the model, the alias it follows or its deployments, and its options."""

    name: str
    model: str
    alias: str | None
    deployments: tuple[Deployment, ...]
    shadow_version: int | None
    sample_rate: float
    max_batch_size: int
    max_latency_ms: float
    generation: int
    created_at: float
    created_by: str
    updated_at: float
    # The PII policy of its request log rows (``usina.privacy.check_policy``'s form), or None.
    log_policy: dict[str, Any] | None = None

    @property
    def target(self) -> str:
        """What the endpoint serves, as text: ``models:/m@champion`` or ``v3=90 v4=10``."""
        if self.alias:
            return f"models:/{self.model}@{self.alias}"
        return " ".join(f"v{d.version}={d.traffic}%" for d in self.deployments)


@dataclass(frozen=True)
class WatchRow:
    """What a serving worker polls: an endpoint's generation and its alias's current version."""

    name: str
    generation: int
    alias_version: int | None
