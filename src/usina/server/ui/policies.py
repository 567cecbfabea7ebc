"""Policy pages: every policy with where its loop stands, and one policy with its spec, its
state and its decisions (events) as a timeline, newest first."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from usina.errors import NotFound
from usina.policies.entities import KINDS, Event
from usina.policies.spec import NAME
from usina.policies.sql import SqlPolicyStore, event_of
from usina.server.deps import backends
from usina.server.ui.render import page
from usina.store import Database
from usina.store import schema as t

router = APIRouter(prefix="/ui", include_in_schema=False)
PAGE = 50  # events on a page
POLICIES = 200  # policies listed
KIND = "^(" + "|".join(KINDS) + ")$"


@router.get("/policies")
def policies(request: Request) -> Response:
    """Policies, the monitor, model and endpoint each loops on, and its rollout's state."""
    db = backends(request).db
    store = SqlPolicyStore(db, actor="anonymous")
    listed = store.list()[:POLICIES]
    latest = latest_events(db, [p.name for p in listed])
    rows = []
    for p in listed:
        try:
            rollout = store.rollout(p.name)
        except NotFound:  # deleted between the two reads
            continue
        rows.append((p, rollout, latest.get(p.name)))
    return page(request, "policies.html", "Policies", {"rows": rows}, section="policies")


@router.get("/policies/{name}")
def policy(
    request: Request,
    name: str = Path(max_length=128),
    kind: str | None = Query(None, pattern=KIND, description="Only events of this kind."),
    before: int | None = Query(None, ge=1, le=2**62, description="Events older than this id."),
) -> Response:
    """One policy: its spec as YAML, where its loop stands, and its events, newest first."""
    import yaml

    store = SqlPolicyStore(backends(request).db, actor="anonymous")
    found = store.get(name)
    rollout = store.rollout(name)
    events = newest_events(backends(request).db, policy=name, kind=kind, before=before)
    context: dict[str, Any] = {
        "policy": found,
        "rollout": rollout,
        "spec_yaml": yaml.safe_dump(found.spec.to_dict(), sort_keys=False),
        "events": [(e, figures_of(e)) for e in events],
        "kinds": KINDS,
        "kind": kind or "",
        "before": before,
        "older": events[-1].id if len(events) == PAGE else None,
    }
    return page(request, "policy.html", f"Policy {name}", context, section="policies")


def newest_events(
    db: Database,
    *,
    policy: str | None = None,
    kind: str | None = None,
    before: int | None = None,
    limit: int = PAGE,
) -> list[Event]:
    """Events newest first (the stores list them oldest first, for following)."""
    c = t.policy_events.c
    query = sa.select(t.policy_events).order_by(c.id.desc()).limit(limit)
    if policy is not None:
        query = query.where(c.policy == policy)
    if kind is not None:
        query = query.where(c.kind == kind)
    if before is not None:
        query = query.where(c.id < before)
    with db.read() as conn:
        return [event_of(r) for r in conn.execute(query)]


def latest_events(db: Database, policies: list[str]) -> dict[str, Event]:
    """Each policy's newest event, in one query."""
    if not policies:
        return {}
    c = t.policy_events.c
    newest = (
        sa.select(sa.func.max(c.id)).where(c.policy.in_(policies)).group_by(c.policy)
    ).scalar_subquery()
    query = sa.select(t.policy_events).where(c.id.in_(newest))
    with db.read() as conn:
        return {e.policy: e for e in (event_of(r) for r in conn.execute(query))}


def figures_of(event: Event) -> dict[str, Any]:
    """An event's figures arranged for the timeline: the gate report's rules and both
    versions' figures as tables, plain values as facts, anything else as compact JSON."""
    import orjson

    figures = dict(event.figures)
    gate = figures.pop("gate", None)
    out: dict[str, Any] = {"gate": None, "facts": [], "compared": None, "other": []}
    if isinstance(gate, dict):
        candidate = gate.get("candidate") or {}
        champion = gate.get("champion") or {}
        names = sorted(set(candidate) | set(champion))
        out["gate"] = {
            "passed": gate.get("passed"),
            "rows": gate.get("rows"),
            "rules": [r for r in gate.get("rules") or [] if isinstance(r, dict)],
            "figures": [(n, candidate.get(n), champion.get(n)) for n in names],
        }
    # Figures of versions side by side (live against predecessor, candidate against champion).
    sides = [k for k, v in sorted(figures.items()) if _numbers(v)]
    if sides:
        names = sorted({n for k in sides for n in figures[k]})
        out["compared"] = {
            "sides": sides,
            "rows": [(n, [figures[k].get(n) for k in sides]) for n in names],
        }
    for key, value in sorted(figures.items()):
        if key in sides:
            continue
        if value is None or isinstance(value, str | int | float | bool):
            out["facts"].append((key, value))
        else:
            text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
            out["other"].append((key, text[:2000]))
    return out


def _numbers(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value.values())
    )


def policy_of_reason(reason: str) -> str | None:
    """The policy that moved an alias, from the reason its loop gives (``policy NAME: ...``)."""
    head, sep, _ = reason.partition(": ")
    if not sep or not head.startswith("policy "):
        return None
    name = head.removeprefix("policy ")
    return name if NAME.fullmatch(name) else None
