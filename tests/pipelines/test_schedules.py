"""Schedules fire each tick once, even with several schedulers running."""

from __future__ import annotations

import datetime as dt
import multiprocessing

import pytest

from resources import pipelines as p
from usina.client import Client
from usina.errors import Conflict, InvalidInput
from usina.pipelines.schedules import Scheduler, run_inline

T0 = dt.datetime(2026, 1, 5, 2, 59, 30, tzinfo=dt.UTC).timestamp()  # 30 s before 03:00
MINUTE = 60.0


def _scheduler_process(db_url: str, artifacts: str, barrier, times: list[float]) -> None:  # type: ignore[no-untyped-def]
    client = Client(db_url, artifacts)
    # A lease shorter than a tick: at every tick it has expired and both race to take it.
    scheduler = Scheduler(client.schedules, run_inline(client, max_workers=1), lease_s=30)
    for now in times:
        barrier.wait(timeout=60)
        scheduler.run_pending(now)
    client.close()


def test_two_scheduler_processes_fire_one_run_per_tick(
    db_url, client_factory, tmp_path, workdir
) -> None:
    client = client_factory(db_url)
    client.schedules.create("every-minute", p.tiny.ref, "* * * * *", {"workdir": workdir}, now=T0)
    # Both processes see the same clock: 03:00:05, 03:01:05, 03:02:05.
    times = [T0 + 35 + i * MINUTE for i in range(3)]
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [
        ctx.Process(
            target=_scheduler_process, args=(db_url, str(tmp_path / "artifacts"), barrier, times)
        )
        for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    fires = client.schedules.fires("every-minute")
    assert [f.tick - T0 for f in fires] == [30.0, 90.0, 150.0]
    runs = client.pipelines.list_runs(trigger_prefix="schedule:every-minute")
    assert sorted(r.trigger for r in runs) == [
        "schedule:every-minute@2026-01-05T03:00:00Z",
        "schedule:every-minute@2026-01-05T03:01:00Z",
        "schedule:every-minute@2026-01-05T03:02:00Z",
    ]
    assert {f.pipeline_run_id for f in fires} == {r.id for r in runs}


def test_only_the_lease_holder_fires_until_its_lease_expires(
    sqlite_url, client_factory, workdir
) -> None:
    client = client_factory(sqlite_url)
    client.schedules.create("hourly", p.tiny.ref, "0 * * * *", {"workdir": workdir}, now=T0)
    launched: list[tuple[str, float]] = []
    inline = run_inline(client, max_workers=1)

    def launch(schedule, tick):  # type: ignore[no-untyped-def]
        launched.append((schedule.name, tick))
        return inline(schedule, tick)

    a = Scheduler(client.schedules, launch, holder="a", lease_s=600)
    b = Scheduler(client.schedules, launch, holder="b", lease_s=600)
    at_three = T0 + 30
    assert len(a.run_pending(at_three + 1)) == 1
    assert b.run_pending(at_three + 2) == []  # a holds the lease
    # a stops renewing; after the lease expires, b takes over the next tick.
    assert [f.tick for f in b.run_pending(at_three + 3600 + 5)] == [at_three + 3600]
    assert a.run_pending(at_three + 3600 + 6) == []
    assert [tick for _, tick in launched] == [at_three, at_three + 3600]


def test_catch_up_policies_after_downtime(sqlite_url, client_factory, workdir) -> None:
    client = client_factory(sqlite_url)
    store = client.schedules
    store.create("skipper", p.tiny.ref, "0 * * * *", {"workdir": workdir}, catchup="skip", now=T0)
    store.create("once", p.tiny.ref, "0 * * * *", {"workdir": workdir}, catchup="once", now=T0)
    scheduler = Scheduler(client.schedules, run_inline(client, max_workers=1))
    # Down from before 03:00 until 06:30: ticks at 03, 04, 05 and 06 were missed.
    fires = {f.schedule: f for f in scheduler.run_pending(T0 + 30 + 3.5 * 3600)}
    assert fires["skipper"].pipeline_run_id is None and fires["skipper"].missed == 4
    assert fires["once"].pipeline_run_id is not None and fires["once"].missed == 4
    assert store.get("skipper").next_tick == T0 + 30 + 4 * 3600  # 07:00
    runs = client.pipelines.list_runs(trigger_prefix="schedule:")
    assert [r.trigger for r in runs] == ["schedule:once@2026-01-05T06:00:00Z"]


def test_paused_schedules_do_not_fire_and_resume_from_the_next_tick(
    sqlite_url, client_factory, workdir
) -> None:
    client = client_factory(sqlite_url)
    store = client.schedules
    store.create("nightly", p.tiny.ref, "0 3 * * *", {"workdir": workdir}, now=T0)
    store.set_paused("nightly", True)
    scheduler = Scheduler(client.schedules, run_inline(client))
    assert scheduler.run_pending(T0 + 60) == []
    resumed = store.set_paused("nightly", False, now=T0 + 2 * 86400)
    assert resumed.next_tick == T0 + 30 + 2 * 86400
    store.delete("nightly")
    assert store.list() == []


def test_bad_schedules_are_refused_with_the_field_named(sqlite_url, client_factory) -> None:
    store = client_factory(sqlite_url).schedules
    with pytest.raises(InvalidInput, match="--cron 'every day' is not a cron expression") as info:
        store.create("x", p.tiny.ref, "every day")
    assert info.value.field == "cron"
    with pytest.raises(InvalidInput, match="--catchup 'all'"):
        store.create("x", p.tiny.ref, "0 3 * * *", catchup="all")
    store.create("x", p.tiny.ref, "0 3 * * *")
    with pytest.raises(Conflict, match="already exists"):
        store.create("x", p.tiny.ref, "0 3 * * *")
