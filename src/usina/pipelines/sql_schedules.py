"""Schedules, their fires and the scheduler lease in the metadata database.

The lease and the claim of a tick are single conditional writes, so they stay correct with
any number of schedulers on SQLite (``BEGIN IMMEDIATE``) and PostgreSQL (row locks of the
``UPDATE ... WHERE``, and the fire row's primary key).
"""

from __future__ import annotations

import builtins
import math
import re
import time
from collections.abc import Mapping
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.errors import Conflict, InvalidInput, NotFound
from usina.pipelines.entities import Fire, Schedule
from usina.pipelines.schedules import CATCHUP, LEASE_NAME, check_cron, next_tick
from usina.pipelines.sql import check_id
from usina.store import Database, insert_if_absent
from usina.store import schema as t

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")
_HOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@\-]{0,127}")


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"schedule name {name!r} is not valid; use letters, digits and '._-' (at most 128)",
            field="name",
        )
    return name


def _check_time(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{field} {value!r} is not a time in seconds since 1970", field=field)
    return float(value)


def _check_holder(holder: Any) -> str:
    if not isinstance(holder, str) or not _HOLDER.fullmatch(holder):
        raise InvalidInput(
            f"holder {holder!r} is not valid; use letters, digits and '._:@-' (at most 128)",
            field="holder",
        )
    return holder


def _row(row: Any) -> Schedule:
    return Schedule(
        row.name,
        row.pipeline,
        row.cron,
        orjson.loads(row.params),
        row.catchup,
        bool(row.paused),
        row.next_tick,
        row.last_tick,
        row.created_at,
        row.created_by,
    )


class SqlScheduleStore:
    """Create, list, pause, resume and delete schedules; lease and claims for schedulers."""

    def __init__(self, db: Database, actor: str = "local") -> None:
        self.db = db
        self.actor = actor

    def create(
        self,
        name: str,
        pipeline: str,
        cron: str,
        params: Mapping[str, Any] | None = None,
        catchup: str = "skip",
        now: float | None = None,
    ) -> Schedule:
        check_name(name)
        if not isinstance(pipeline, str) or not pipeline.strip() or len(pipeline) > 4096:
            raise InvalidInput(
                "pipeline must name the pipeline to run, FILE.py:NAME", field="pipeline"
            )
        check_cron(cron)
        if catchup not in CATCHUP:
            raise InvalidInput(
                f"--catchup {catchup!r} is not one of {', '.join(CATCHUP)} (skip: drop missed "
                "ticks; once: one run for all missed ticks)",
                field="catchup",
            )
        now = time.time() if now is None else _check_time(now, "now")
        try:
            params_text = orjson.dumps(dict(params or {})).decode()
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise InvalidInput(f"params are not JSON values: {exc}", field="params") from None
        values = {
            "name": name,
            "pipeline": pipeline,
            "cron": cron,
            "params": params_text,
            "catchup": catchup,
            "paused": False,
            "next_tick": next_tick(cron, now),
            "last_tick": None,
            "created_at": now,
            "created_by": self.actor,
        }

        def tx(conn: Connection) -> None:
            if not insert_if_absent(conn, t.schedules, values, ["name"]):
                raise Conflict(
                    f"schedule {name!r} already exists; delete it first or pick another name",
                    field="name",
                )

        self.db.write(tx)
        return self.get(name)

    def get(self, name: str) -> Schedule:
        check_name(name)
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.schedules).where(t.schedules.c.name == name)).first()
        if row is None:
            raise self._missing(name)
        return _row(row)

    def list(self) -> builtins.list[Schedule]:
        with self.db.read() as conn:
            return [
                _row(r) for r in conn.execute(sa.select(t.schedules).order_by(t.schedules.c.name))
            ]

    def set_paused(self, name: str, paused: bool, now: float | None = None) -> Schedule:
        if not isinstance(paused, bool):
            raise InvalidInput(f"paused {paused!r} is not true or false", field="paused")
        now = time.time() if now is None else _check_time(now, "now")
        cron = self.get(name).cron
        values: dict[str, Any] = {"paused": paused}
        if not paused:
            values["next_tick"] = next_tick(cron, now)

        def tx(conn: Connection) -> None:
            result = conn.execute(
                t.schedules.update().where(t.schedules.c.name == name).values(**values)
            )
            if not result.rowcount:
                raise self._missing(name)

        self.db.write(tx)
        return self.get(name)

    def delete(self, name: str) -> None:
        check_name(name)

        def tx(conn: Connection) -> None:
            if not conn.execute(t.schedules.delete().where(t.schedules.c.name == name)).rowcount:
                raise self._missing(name)

        self.db.write(tx)

    def fires(self, name: str | None = None) -> builtins.list[Fire]:
        query = sa.select(t.schedule_fires).order_by(t.schedule_fires.c.tick)
        if name is not None:
            query = query.where(t.schedule_fires.c.schedule == check_name(name))
        with self.db.read() as conn:
            return [
                Fire(r.schedule, r.tick, r.missed, r.pipeline_run_id) for r in conn.execute(query)
            ]

    # -- the lease and claims -------------------------------------------------------------

    def acquire_lease(self, holder: str, lease_s: float, now: float | None = None) -> bool:
        _check_holder(holder)
        lease_s = _check_time(lease_s, "lease_s")
        if not 0 < lease_s <= 3600:
            raise InvalidInput(f"lease_s {lease_s!r} is not within (0, 3600]", field="lease_s")
        now = time.time() if now is None else _check_time(now, "now")

        def tx(conn: Connection) -> bool:
            insert_if_absent(
                conn,
                t.leases,
                {"name": LEASE_NAME, "holder": holder, "expires_at": now + lease_s},
                ["name"],
            )
            result = conn.execute(
                t.leases.update()
                .where(
                    t.leases.c.name == LEASE_NAME,
                    sa.or_(t.leases.c.holder == holder, t.leases.c.expires_at < now),
                )
                .values(holder=holder, expires_at=now + lease_s)
            )
            return bool(result.rowcount)

        return self.db.write(tx)

    def release_lease(self, holder: str) -> None:
        _check_holder(holder)
        self.db.write(
            lambda conn: conn.execute(
                t.leases.delete().where(t.leases.c.name == LEASE_NAME, t.leases.c.holder == holder)
            )
        )

    def claim_tick(
        self,
        name: str,
        expected_next_tick: float,
        tick: float,
        upcoming: float,
        missed: int,
        holder: str,
    ) -> bool:
        self.get(name)
        expected_next_tick = _check_time(expected_next_tick, "expected_next_tick")
        tick = _check_time(tick, "tick")
        upcoming = _check_time(upcoming, "upcoming")
        _check_holder(holder)
        if upcoming <= tick:
            raise InvalidInput(f"upcoming {upcoming} is not after tick {tick}", field="upcoming")
        if isinstance(missed, bool) or not isinstance(missed, int) or missed < 0:
            raise InvalidInput(f"missed {missed!r} is not a whole number >= 0", field="missed")

        def tx(conn: Connection) -> bool:
            result = conn.execute(
                t.schedules.update()
                .where(t.schedules.c.name == name, t.schedules.c.next_tick == expected_next_tick)
                .values(next_tick=upcoming, last_tick=tick)
            )
            if not result.rowcount:
                return False
            return insert_if_absent(
                conn,
                t.schedule_fires,
                {
                    "schedule": name,
                    "tick": tick,
                    "fired_at": time.time(),
                    "fired_by": holder,
                    "missed": missed,
                    "pipeline_run_id": None,
                },
                ["schedule", "tick"],
            )

        return self.db.write(tx)

    def link_fire(self, name: str, tick: float, pipeline_run_id: str) -> None:
        check_name(name)
        tick = _check_time(tick, "tick")
        check_id(pipeline_run_id, "pipeline_run_id")

        def tx(conn: Connection) -> None:
            result = conn.execute(
                t.schedule_fires.update()
                .where(t.schedule_fires.c.schedule == name, t.schedule_fires.c.tick == tick)
                .values(pipeline_run_id=pipeline_run_id)
            )
            if not result.rowcount:
                raise NotFound(f"schedule {name!r} has no claimed tick {tick}", field="tick")

        self.db.write(tx)

    @staticmethod
    def _missing(name: str) -> NotFound:
        message = f"no schedule {name!r}; list them with 'usina schedules list'"
        return NotFound(message, field="name")
