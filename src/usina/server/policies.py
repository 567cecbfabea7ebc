"""Routes of policies and their decisions: ``/api/v1/policies`` (apply a file, list, get,
delete), ``/api/v1/policies/{name}/rollout`` and ``/transitions`` (the loop's state and its
compare-and-set, for schedulers working through the server), and ``/api/v1/events``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from usina.policies.entities import NewEvent, Rollout
from usina.policies.sql import SqlEventStore, SqlPolicyStore
from usina.server.deps import actor, backends

router = APIRouter(prefix="/api/v1", tags=["policies"])

_NAME = Path(max_length=128, description="The policy's name.")


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=1_000_000, description="The policy file's YAML.")
    filename: str = Field("policy.yaml", max_length=1000, description="Named in errors.")
    base: str | None = Field(None, max_length=4096, description="Folder of relative pipelines.")
    dry_run: bool = Field(False, description="Only say what would change (usina policies plan).")


class ChangeOut(BaseModel):
    policy: str
    action: str = Field(description="create, update or unchanged.")
    fields: list[str]


class ApplyOut(BaseModel):
    changes: list[ChangeOut]


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=32)
    reason: str = Field(max_length=10_000)
    version: int | None = None
    figures: dict[str, Any] = {}


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: str = Field(max_length=16)
    generation: int = Field(ge=0)
    changes: dict[str, Any]
    event: EventIn | None = None


class RolloutOut(BaseModel):
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
    data: dict[str, Any]
    updated_at: float


class TransitionOut(BaseModel):
    rollout: RolloutOut | None = Field(description="null: another scheduler moved it first.")


class EventOut(BaseModel):
    id: int
    policy: str
    model: str
    version: int | None
    kind: str
    reason: str
    figures: dict[str, Any]
    at: float
    actor: str
    generation: int


class ItemsOut(BaseModel):
    items: list[dict[str, Any]]


class EventsOut(BaseModel):
    items: list[EventOut]


def _store(request: Request, who: str = "local") -> SqlPolicyStore:
    return SqlPolicyStore(backends(request).db, actor=who)


def _rollout(r: Rollout) -> RolloutOut:
    return RolloutOut(**r.__dict__)


@router.post("/policies/apply", response_model=ApplyOut)
def apply_policies(request: Request, body: ApplyIn, who: str = Depends(actor)) -> ApplyOut:
    """Check a policy file and store every policy in it, or none; ``dry_run``: only plan."""
    found = _store(request, who).apply(
        body.text, filename=body.filename, base=body.base, dry_run=body.dry_run
    )
    return ApplyOut(
        changes=[ChangeOut(policy=c.policy, action=c.action, fields=list(c.fields)) for c in found]
    )


@router.get("/policies", response_model=ItemsOut)
def list_policies(request: Request) -> ItemsOut:
    """Every policy, by name."""
    return ItemsOut(items=[p.to_dict() for p in _store(request).list()])


@router.get("/policies/{name}")
def get_policy(request: Request, name: str = _NAME) -> dict[str, Any]:
    """One policy's spec."""
    return _store(request).get(name).to_dict()


@router.delete("/policies/{name}", status_code=204)
def delete_policy(request: Request, name: str = _NAME) -> Response:
    """Delete a policy and its loop's state; its events stay."""
    _store(request).delete(name)
    return Response(status_code=204)


@router.get("/policies/{name}/rollout", response_model=RolloutOut)
def get_rollout(request: Request, name: str = _NAME) -> RolloutOut:
    """Where the policy's loop stands."""
    return _rollout(_store(request).rollout(name))


@router.post("/policies/{name}/transitions", response_model=TransitionOut)
def transition(
    request: Request, body: TransitionIn, name: str = _NAME, who: str = Depends(actor)
) -> TransitionOut:
    """Move the loop if it still stands at (state, generation), recording the event."""
    event = None if body.event is None else NewEvent(**body.event.model_dump())
    moved = _store(request, who).transition(name, body.state, body.generation, body.changes, event)
    return TransitionOut(rollout=None if moved is None else _rollout(moved))


@router.get("/events", response_model=EventsOut)
def list_events(
    request: Request,
    policy: str | None = Query(None, max_length=128),
    model: str | None = Query(None, max_length=256),
    after: int = Query(0, ge=0, le=2**62),
    limit: int = Query(100, ge=1, le=1000),
) -> EventsOut:
    """The loops' decisions, oldest first, after an event id."""
    found = SqlEventStore(backends(request).db).list(
        policy=policy, model=model, after=after, limit=limit
    )
    return EventsOut(items=[EventOut(**e.__dict__) for e in found])
