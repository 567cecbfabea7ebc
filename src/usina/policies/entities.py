"""What the policy stores hold: a policy, its rollout's state, a decision's event, and what
applying a file would change."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from usina.policies.spec import PolicySpec

# Where a policy's loop stands.
IDLE = "idle"  # watching the monitor's runs for breaches
RETRAINING = "retraining"  # the pipeline runs (``holder`` runs it)
GATING = "gating"  # a candidate version, passed by the gate, not yet on traffic
CANARY = "canary"  # the candidate (alias ``challenger``) takes its share of traffic
WATCHING = "watching"  # promoted; rolled back if its live quality falls in the watch period
STATES = (IDLE, RETRAINING, GATING, CANARY, WATCHING)

# What an event records: one decision of the loop.
KINDS = (
    "breach",
    "retrain_started",
    "retrain_failed",
    "gate_passed",
    "gate_failed",
    "canary_started",
    "promoted",
    "withdrawn",
    "rolled_back",
    "confirmed",
    "abandoned",
)


@dataclass(frozen=True)
class Policy:
    """A stored policy: its checked spec, when and by whom it was last applied."""

    spec: PolicySpec
    created_at: float
    updated_at: float
    updated_by: str

    @property
    def name(self) -> str:
        return self.spec.name

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.spec.to_dict(),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }


@dataclass(frozen=True)
class Rollout:
    """The state of a policy's loop: one row, changed only by compare-and-set on
    ``(state, generation)``.

    ``champion`` is the version serving before the candidate (the predecessor once it is
    promoted); ``since`` when the state was entered; ``seen_upto`` the end of the newest monitor
    window counted; ``breaches`` consecutive breached windows; ``last_retrain`` when the last
    retraining started (the cooldown counts from it); ``holder`` the scheduler running a
    retraining; ``data`` the figures the next decision needs."""

    policy: str
    state: str
    generation: int
    champion: int | None
    candidate: int | None
    since: float
    seen_upto: float
    breaches: int
    last_retrain: float | None
    holder: str | None
    data: dict[str, Any] = field(default_factory=dict)
    updated_at: float = 0.0


@dataclass(frozen=True)
class Event:
    """One decision: which policy, model and version, what (``kind``), why, with figures."""

    id: int
    policy: str
    model: str
    version: int | None
    kind: str
    reason: str
    figures: dict[str, Any]
    at: float
    actor: str
    generation: int = 0


@dataclass(frozen=True)
class NewEvent:
    """An event to record with a transition."""

    kind: str
    reason: str
    version: int | None = None
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """What applying a file does to one policy: ``create``, ``update`` (with the fields that
    differ) or ``unchanged``."""

    policy: str
    action: str
    fields: tuple[str, ...] = ()
