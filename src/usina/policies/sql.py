"""Policies, their rollouts and events in the metadata database."""

from __future__ import annotations

import builtins
import time
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.errors import InvalidInput, NotFound
from usina.policies.entities import (
    IDLE,
    KINDS,
    STATES,
    Change,
    Event,
    NewEvent,
    Policy,
    Rollout,
)
from usina.policies.spec import NAME, changes, check_file, spec_from_dict
from usina.store import Database
from usina.store import schema as t

_ROLLOUT_FIELDS = {
    "state",
    "champion",
    "candidate",
    "since",
    "seen_upto",
    "breaches",
    "last_retrain",
    "holder",
    "data",
}


class _SqlResolver:
    """The spec's references checked on the database (``Resolver``)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def monitor_endpoint(self, name: str) -> str:
        found = self.conn.execute(
            sa.select(t.monitors.c.endpoint).where(t.monitors.c.name == name)
        ).scalar()
        if found is None:
            raise NotFound(f"no monitor named {name!r}", field="monitor")
        return str(found)

    def endpoint_model(self, name: str) -> str:
        found = self.conn.execute(
            sa.select(t.endpoints.c.model).where(t.endpoints.c.name == name)
        ).scalar()
        if found is None:
            raise NotFound(f"no endpoint named {name!r}", field="endpoint")
        return str(found)

    def pipeline_params(self, ref: str) -> dict[str, bool]:
        from usina.pipelines.loader import load_pipeline

        graph = load_pipeline(ref).graph
        return {name: p.required for name, p in graph.params.items()}


def check_policy_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidInput(
            f"policy name {name!r} is not valid; use letters, digits and '._-'", field="name"
        )
    return name


def _policy(row: Any) -> Policy:
    stored = orjson.loads(row.spec)
    return Policy(
        spec_from_dict(stored, stored.get("source", "")),
        row.created_at,
        row.updated_at,
        row.updated_by,
    )


def _rollout(row: Any) -> Rollout:
    return Rollout(
        row.policy,
        row.state,
        int(row.generation),
        row.champion,
        row.candidate,
        row.since,
        row.seen_upto,
        int(row.breaches),
        row.last_retrain,
        row.holder,
        orjson.loads(row.data),
        row.updated_at,
    )


def event_of(row: Any) -> Event:
    return Event(
        int(row.id),
        row.policy,
        row.model,
        row.version,
        row.kind,
        row.reason,
        orjson.loads(row.figures),
        row.at,
        row.actor,
        int(row.generation),
    )


def _one_per_model(conn: Connection, specs: builtins.list[Any], filename: str) -> None:
    """Refuse a policy on a model another policy already loops on (they would race for its
    champion alias), in the file or stored."""
    owners = {
        orjson.loads(row.spec)["model"]: row.name
        for row in conn.execute(sa.select(t.policies.c.name, t.policies.c.spec))
    }
    for spec in specs:
        owner = owners.get(spec.model, spec.name)
        if owner != spec.name:
            raise InvalidInput(
                f"{filename}: model: policy {spec.name!r} would loop on model {spec.model!r}, "
                f"which policy {owner!r} already does; give a model one policy",
                field="model",
            )
        owners[spec.model] = spec.name


class SqlPolicyStore:
    """Policies on the metadata database (``usina.policies.base.PolicyStore``); ``actor``
    signs applies and the events of transitions."""

    def __init__(self, db: Database, actor: str = "local") -> None:
        self.db = db
        self.actor = actor

    def apply(
        self,
        text: str,
        *,
        filename: str = "policy.yaml",
        base: str | None = None,
        dry_run: bool = False,
    ) -> builtins.list[Change]:
        def tx(conn: Connection) -> builtins.list[Change]:
            specs = check_file(text, filename, _SqlResolver(conn), base)
            _one_per_model(conn, specs, filename)
            now = time.time()
            found = []
            for spec in specs:
                stored = {**spec.to_dict(), "source": text}
                row = conn.execute(
                    sa.select(t.policies.c.spec).where(t.policies.c.name == spec.name)
                ).first()
                old = orjson.loads(row.spec) if row is not None else None
                if old is not None:
                    old.pop("source", None)
                diff = changes(old, spec.to_dict())
                action = "create" if old is None else ("update" if diff else "unchanged")
                found.append(Change(spec.name, action, tuple(diff if old is not None else ())))
                if dry_run or action == "unchanged":
                    continue
                if old is None:
                    conn.execute(
                        t.policies.insert().values(
                            name=spec.name,
                            spec=orjson.dumps(stored).decode(),
                            created_at=now,
                            updated_at=now,
                            updated_by=self.actor,
                        )
                    )
                else:
                    conn.execute(
                        t.policies.update()
                        .where(t.policies.c.name == spec.name)
                        .values(
                            spec=orjson.dumps(stored).decode(),
                            updated_at=now,
                            updated_by=self.actor,
                        )
                    )
                exists = conn.execute(
                    sa.select(t.policy_rollouts.c.policy).where(
                        t.policy_rollouts.c.policy == spec.name
                    )
                ).first()
                if exists is None:
                    conn.execute(
                        t.policy_rollouts.insert().values(
                            policy=spec.name,
                            state=IDLE,
                            generation=0,
                            since=now,
                            seen_upto=now,  # breaches count from the policy's creation
                            breaches=0,
                            data="{}",
                            updated_at=now,
                        )
                    )
            return found

        if dry_run:
            with self.db.read() as conn:
                return tx(conn)
        return self.db.write(tx)

    def get(self, name: str) -> Policy:
        check_policy_name(name)
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.policies).where(t.policies.c.name == name)).first()
        if row is None:
            raise NotFound(f"no policy named {name!r}; see 'usina policies list'", field="name")
        return _policy(row)

    def list(self) -> builtins.list[Policy]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(t.policies).order_by(t.policies.c.name)).all()
        return [_policy(r) for r in rows]

    def delete(self, name: str) -> None:
        check_policy_name(name)

        def tx(conn: Connection) -> None:
            gone = conn.execute(t.policies.delete().where(t.policies.c.name == name)).rowcount
            if not gone:
                raise NotFound(f"no policy named {name!r}", field="name")
            conn.execute(t.policy_rollouts.delete().where(t.policy_rollouts.c.policy == name))

        self.db.write(tx)

    def rollout(self, name: str) -> Rollout:
        check_policy_name(name)
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(t.policy_rollouts).where(t.policy_rollouts.c.policy == name)
            ).first()
        if row is None:
            raise NotFound(f"no policy named {name!r}", field="name")
        return _rollout(row)

    def transition(
        self,
        name: str,
        state: str,
        generation: int,
        changes: dict[str, Any],
        event: NewEvent | None = None,
    ) -> Rollout | None:
        check_policy_name(name)
        unknown = set(changes) - _ROLLOUT_FIELDS
        if unknown:
            raise InvalidInput(f"unknown rollout fields {sorted(unknown)}", field="changes")
        if changes.get("state", state) not in STATES or state not in STATES:
            raise InvalidInput(f"a state is one of {', '.join(STATES)}", field="state")
        if event is not None and event.kind not in KINDS:
            raise InvalidInput(
                f"event kind {event.kind!r} is not one of {', '.join(KINDS)}", field="kind"
            )
        values = dict(changes)
        if "data" in values:
            values["data"] = orjson.dumps(values["data"]).decode()
        now = time.time()
        c = t.policy_rollouts.c

        def tx(conn: Connection) -> Rollout | None:
            moved = conn.execute(
                t.policy_rollouts.update()
                .where(c.policy == name, c.state == state, c.generation == generation)
                .values(**values, generation=generation + 1, updated_at=now)
            ).rowcount
            if not moved:
                return None
            if event is not None:
                model = conn.execute(
                    sa.select(t.policies.c.spec).where(t.policies.c.name == name)
                ).scalar()
                conn.execute(
                    t.policy_events.insert().values(
                        policy=name,
                        model=orjson.loads(model)["model"] if model else "",
                        version=event.version,
                        kind=event.kind,
                        reason=event.reason,
                        figures=orjson.dumps(event.figures).decode(),
                        generation=generation + 1,
                        at=now,
                        actor=self.actor,
                    )
                )
            row = conn.execute(sa.select(t.policy_rollouts).where(c.policy == name)).one()
            return _rollout(row)

        try:
            return self.db.write(tx)
        except sa.exc.IntegrityError:  # the event of this generation exists: taken elsewhere
            return None


class SqlEventStore:
    """The decisions' record on the metadata database (``usina.policies.base.EventStore``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def list(
        self,
        *,
        policy: str | None = None,
        model: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> builtins.list[Event]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInput(f"limit {limit!r} is not from 1 to 1000", field="limit")
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise InvalidInput(f"after {after!r} is not an event id", field="after")
        c = t.policy_events.c
        query = sa.select(t.policy_events).where(c.id > after).order_by(c.id).limit(limit)
        if policy is not None:
            query = query.where(c.policy == policy)
        if model is not None:
            query = query.where(c.model == model)
        with self.db.read() as conn:
            return [event_of(r) for r in conn.execute(query)]
