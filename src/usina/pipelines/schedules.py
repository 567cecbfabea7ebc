"""Schedules: cron triggers for pipelines, fired exactly once per tick by any number of schedulers.

Two things make a tick fire once. A lease row in the metadata database names the one scheduler
that leads for ``lease_s`` seconds; the others wait, and take over when it stops renewing. And
each tick is claimed by a compare-and-set on the schedule's ``next_tick`` plus a row in
``schedule_fires`` keyed by (schedule, tick), so even two leaders (a clock jump, a paused
process outliving its lease) cannot both fire it.

After downtime a schedule's catch-up policy decides: ``skip`` drops the ticks that were missed
and waits for the next one; ``once`` runs one run for all of them.
"""

from __future__ import annotations

import builtins
import datetime as dt
import os
import re
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.errors import Conflict, InvalidInput, NotFound
from usina.store import Database, insert_if_absent
from usina.store import schema as t

CATCHUP = ("skip", "once")
LEASE_NAME = "scheduler"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")


@dataclass(frozen=True)
class Schedule:
    """A cron trigger for a pipeline with fixed parameters."""

    name: str
    pipeline: str
    cron: str
    params: dict[str, Any]
    catchup: str
    paused: bool
    next_tick: float
    last_tick: float | None
    created_at: float
    created_by: str


@dataclass(frozen=True)
class Fire:
    """A tick a scheduler claimed: the run it started (or none, for a skipped catch-up)."""

    schedule: str
    tick: float
    missed: int
    pipeline_run_id: str | None


def next_tick(cron: str, after: float) -> float:
    """The first tick of ``cron`` strictly after ``after`` (UTC)."""
    from croniter import croniter

    start = dt.datetime.fromtimestamp(after, dt.UTC)
    return float(croniter(cron, start).get_next(float))


def check_cron(cron: str) -> str:
    from croniter import croniter

    if not isinstance(cron, str) or not croniter.is_valid(cron):
        raise InvalidInput(
            f"--cron {cron!r} is not a cron expression; use five fields, minute hour day month "
            "weekday, for example '0 3 * * *' for 03:00 UTC every day",
            field="cron",
        )
    return cron


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


class ScheduleStore:
    """Create, list, pause, resume and delete schedules."""

    def __init__(self, db: Database, actor: str = "local") -> None:
        self.db = db
        self.actor = actor

    def create(
        self,
        name: str,
        pipeline: str,
        cron: str,
        params: dict[str, Any] | None = None,
        catchup: str = "skip",
        now: float | None = None,
    ) -> Schedule:
        """Add a schedule; its first tick is the first cron time after ``now``."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidInput(
                f"schedule name {name!r} is not valid; use letters, digits and '._-' (at most 128)",
                field="name",
            )
        check_cron(cron)
        if catchup not in CATCHUP:
            raise InvalidInput(
                f"--catchup {catchup!r} is not one of {', '.join(CATCHUP)} (skip: drop missed "
                "ticks; once: one run for all missed ticks)",
                field="catchup",
            )
        now = time.time() if now is None else now
        first = next_tick(cron, now)
        values = {
            "name": name,
            "pipeline": pipeline,
            "cron": cron,
            "params": orjson.dumps(params or {}).decode(),
            "catchup": catchup,
            "paused": False,
            "next_tick": first,
            "last_tick": None,
            "created_at": now,
            "created_by": self.actor,
        }

        def tx(conn: Connection) -> None:
            exists = conn.execute(
                sa.select(t.schedules.c.name).where(t.schedules.c.name == name)
            ).first()
            if exists:
                raise Conflict(
                    f"schedule {name!r} already exists; delete it first or pick another name",
                    field="name",
                )
            conn.execute(t.schedules.insert().values(**values))

        self.db.write(tx)
        return self.get(name)

    def get(self, name: str) -> Schedule:
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.schedules).where(t.schedules.c.name == name)).first()
        if row is None:
            raise NotFound(f"no schedule {name!r}; list them with 'usina schedules list'")
        return _row(row)

    def list(self) -> builtins.list[Schedule]:
        with self.db.read() as conn:
            return [
                _row(r) for r in conn.execute(sa.select(t.schedules).order_by(t.schedules.c.name))
            ]

    def set_paused(self, name: str, paused: bool, now: float | None = None) -> Schedule:
        """Pause or resume; resuming starts from the next tick after ``now`` (no catch-up)."""
        self.get(name)
        values: dict[str, Any] = {"paused": paused}
        if not paused:
            values["next_tick"] = next_tick(
                self.get(name).cron, time.time() if now is None else now
            )
        self.db.write(
            lambda conn: conn.execute(
                t.schedules.update().where(t.schedules.c.name == name).values(**values)
            )
        )
        return self.get(name)

    def delete(self, name: str) -> None:
        self.get(name)
        self.db.write(
            lambda conn: conn.execute(t.schedules.delete().where(t.schedules.c.name == name))
        )

    def fires(self, name: str | None = None) -> builtins.list[Fire]:
        """Claimed ticks, oldest first."""
        query = sa.select(t.schedule_fires).order_by(t.schedule_fires.c.tick)
        if name:
            query = query.where(t.schedule_fires.c.schedule == name)
        with self.db.read() as conn:
            return [
                Fire(r.schedule, r.tick, r.missed, r.pipeline_run_id) for r in conn.execute(query)
            ]


Launcher = Callable[[Schedule, float], str | None]


class Scheduler:
    """Fires due schedules; safe to run in several processes at once.

    Args:
        launch: starts a run for (schedule, tick) and returns its pipeline run id.
        holder: this scheduler's name in the lease (host, pid and a random suffix by default).
        lease_s: how long a lease lasts without renewal.
        grace_s: how late a tick may be seen and still count as on time (not missed).
    """

    def __init__(
        self,
        db: Database,
        launch: Launcher,
        *,
        holder: str | None = None,
        lease_s: float = 30.0,
        grace_s: float = 60.0,
    ) -> None:
        self.db = db
        self.launch = launch
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_s = lease_s
        self.grace_s = grace_s
        self.store = ScheduleStore(db, self.holder)

    def acquire_lease(self, now: float | None = None) -> bool:
        """Take or renew the lease; ``True`` when this scheduler leads until ``now + lease_s``."""
        now = time.time() if now is None else now

        def tx(conn: Connection) -> bool:
            insert_if_absent(
                conn,
                t.leases,
                {"name": LEASE_NAME, "holder": self.holder, "expires_at": now + self.lease_s},
                ["name"],
            )
            result = conn.execute(
                t.leases.update()
                .where(
                    t.leases.c.name == LEASE_NAME,
                    sa.or_(t.leases.c.holder == self.holder, t.leases.c.expires_at < now),
                )
                .values(holder=self.holder, expires_at=now + self.lease_s)
            )
            return bool(result.rowcount)

        return self.db.write(tx)

    def release_lease(self) -> None:
        self.db.write(
            lambda conn: conn.execute(
                t.leases.delete().where(
                    t.leases.c.name == LEASE_NAME, t.leases.c.holder == self.holder
                )
            )
        )

    def run_pending(self, now: float | None = None) -> list[Fire]:
        """Fire every schedule due at ``now``, if this scheduler holds the lease."""
        now = time.time() if now is None else now
        if not self.acquire_lease(now):
            return []
        fired = []
        for schedule in self.store.list():
            if schedule.paused or schedule.next_tick > now:
                continue
            claim = self._claim(schedule, now)
            if claim is None:
                continue
            tick, missed, on_time = claim
            run_id = None
            if on_time or schedule.catchup == "once":
                run_id = self.launch(schedule, tick)
                if run_id is not None:
                    self._link(schedule.name, tick, run_id)
            fired.append(Fire(schedule.name, tick, missed, run_id))
        return fired

    def _link(self, schedule: str, tick: float, run_id: str) -> None:
        self.db.write(
            lambda conn: conn.execute(
                t.schedule_fires.update()
                .where(t.schedule_fires.c.schedule == schedule, t.schedule_fires.c.tick == tick)
                .values(pipeline_run_id=run_id)
            )
        )

    def _claim(self, schedule: Schedule, now: float) -> tuple[float, int, bool] | None:
        """Claim the latest due tick; ``(tick, missed ticks, on time)`` or ``None`` if taken."""
        ticks = [schedule.next_tick]
        while len(ticks) < 10_000:
            following = next_tick(schedule.cron, ticks[-1])
            if following > now:
                break
            ticks.append(following)
        latest = ticks[-1]
        upcoming = next_tick(schedule.cron, latest)
        on_time = now - latest <= self.grace_s

        def tx(conn: Connection) -> bool:
            result = conn.execute(
                t.schedules.update()
                .where(
                    t.schedules.c.name == schedule.name,
                    t.schedules.c.next_tick == schedule.next_tick,
                )
                .values(next_tick=upcoming, last_tick=latest)
            )
            if not result.rowcount:
                return False
            conn.execute(
                t.schedule_fires.insert().values(
                    schedule=schedule.name,
                    tick=latest,
                    fired_at=time.time(),
                    fired_by=self.holder,
                    missed=len(ticks) - 1 if on_time else len(ticks),
                )
            )
            return True

        try:
            won = self.db.write(tx)
        except sa.exc.IntegrityError:
            return None  # another scheduler recorded this tick first
        if not won:
            return None
        return latest, len(ticks) - 1 if on_time else len(ticks), on_time

    def serve(self, interval: float = 15.0, stop: Callable[[], bool] = lambda: False) -> None:
        """Check schedules every ``interval`` seconds until ``stop()`` says so."""
        try:
            while not stop():
                self.run_pending()
                wake = time.monotonic() + interval
                while time.monotonic() < wake and not stop():  # stop() is checked each second
                    time.sleep(min(1.0, interval))
        finally:
            self.release_lease()


def run_inline(backend: Any, max_workers: int | None = None) -> Launcher:
    """A launcher that runs the schedule's pipeline in this process, with the local runner.

    Runs are serial: a long run delays the next check, and ticks that pass meanwhile are
    handled by the catch-up policy.
    """
    from usina.pipelines.loader import load_pipeline
    from usina.pipelines.runner import LocalRunner

    def launch(schedule: Schedule, tick: float) -> str | None:
        pipeline = load_pipeline(schedule.pipeline)
        when = dt.datetime.fromtimestamp(tick, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        run = LocalRunner(backend, max_workers=max_workers).run(
            pipeline, schedule.params, trigger=f"schedule:{schedule.name}@{when}"
        )
        return run.id

    return launch
