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

import datetime as dt
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from usina.errors import InvalidInput
from usina.pipelines.entities import Fire, Schedule

if TYPE_CHECKING:
    from usina.pipelines.base import SchedulerStore

CATCHUP = ("skip", "once")
LEASE_NAME = "scheduler"

__all__ = ["CATCHUP", "Fire", "Launcher", "Schedule", "Scheduler", "check_cron", "next_tick"]


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


Launcher = Callable[[Schedule, float], str | None]


class Scheduler:
    """Fires due schedules; safe to run in several processes at once.

    Args:
        store: the schedules and the lease (``client.schedules``, on a database or a server).
        launch: starts a run for (schedule, tick) and returns its pipeline run id.
        holder: this scheduler's name in the lease (host, pid and a random suffix by default).
        lease_s: how long a lease lasts without renewal.
        grace_s: how late a tick may be seen and still count as on time (not missed).
        also: called after each check while this scheduler leads (the policies' loop).
    """

    def __init__(
        self,
        store: SchedulerStore,
        launch: Launcher,
        *,
        holder: str | None = None,
        lease_s: float = 30.0,
        grace_s: float = 60.0,
        also: Callable[[], object] | None = None,
    ) -> None:
        self.store = store
        self.also = also
        self.launch = launch
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_s = lease_s
        self.grace_s = grace_s

    def acquire_lease(self, now: float | None = None) -> bool:
        """Take or renew the lease; ``True`` when this scheduler leads until ``now + lease_s``."""
        return self.store.acquire_lease(self.holder, self.lease_s, now)

    def release_lease(self) -> None:
        self.store.release_lease(self.holder)

    def run_pending(self, now: float | None = None) -> list[Fire]:
        """Fire every schedule due at ``now``, if this scheduler holds the lease."""
        # Without an explicit ``now`` the store times the lease with its own clock: through a
        # server, schedulers on machines whose clocks differ still agree on who leads.
        if not self.acquire_lease(now):
            return []
        now = time.time() if now is None else now
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
                    self.store.link_fire(schedule.name, tick, run_id)
            fired.append(Fire(schedule.name, tick, missed, run_id))
        if self.also is not None:
            self.also()
        return fired

    def _claim(self, schedule: Schedule, now: float) -> tuple[float, int, bool] | None:
        """Claim the latest due tick; ``(tick, missed ticks, on time)`` or ``None`` if taken."""
        ticks = [schedule.next_tick]
        while len(ticks) < 10_000:
            following = next_tick(schedule.cron, ticks[-1])
            if following > now:
                break
            ticks.append(following)
        latest = ticks[-1]
        on_time = now - latest <= self.grace_s
        missed = len(ticks) - 1 if on_time else len(ticks)
        won = self.store.claim_tick(
            schedule.name,
            schedule.next_tick,
            latest,
            next_tick(schedule.cron, latest),
            missed,
            self.holder,
        )
        return (latest, missed, on_time) if won else None

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
