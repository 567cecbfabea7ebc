"""Scheduled monitors: the scheduler fires each tick of a monitor once, whatever the number of
schedulers, and the run's window ends at the tick."""

from __future__ import annotations

from pathlib import Path

from usina.client import Client
from usina.monitoring.monitors import launcher
from usina.pipelines.schedules import Scheduler, next_tick, run_inline
from usina.testing.monitoring import T0, log_row, write_log


def _scheduler(client: Client, holder: str) -> Scheduler:
    return Scheduler(client.schedules, launcher(client.monitors, run_inline(client)), holder=holder)


def test_two_schedulers_fire_a_monitor_once_per_tick(
    client_factory, sqlite_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    first = client_factory(sqlite_url, str(tmp_path / "artifacts"))
    second = client_factory(sqlite_url, str(tmp_path / "artifacts"))
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    first.register_model(model, "credit-risk", input_example=[[0.0]])
    first.endpoints.create("credit", "models:/credit-risk/1")
    write_log(
        first.artifacts,
        [log_row(f"r{i}", T0 + 60 * i, {"x0": float(i)}, i % 2) for i in range(120)],
    )
    first.monitors.create(
        {"name": "hourly", "endpoint": "credit", "window": "1h", "schedule": "@hourly"}, now=T0
    )
    tick = next_tick("@hourly", T0)
    a, b = _scheduler(first, "a"), _scheduler(second, "b")

    fired = a.run_pending(now=tick + 1) + b.run_pending(now=tick + 1)
    a.release_lease()
    fired += b.run_pending(now=tick + 2)  # b leads now: the tick is already claimed
    assert [(f.schedule, f.tick) for f in fired] == [("monitor.hourly", tick)]
    (run,) = first.monitors.history("hourly")
    assert fired[0].pipeline_run_id == run.id
    assert (run.window_start, run.window_end) == (tick - 3600, tick)
    inside = sum(1 for i in range(120) if tick - 3600 <= T0 + 60 * i < tick)
    assert run.figures["versions"][0]["figures"]["requests"] == inside

    following = next_tick("@hourly", tick)
    fired = b.run_pending(now=following + 1) + a.run_pending(now=following + 1)
    assert [f.tick for f in fired] == [following]
    assert [r.window_end for r in second.monitors.history("hourly")] == [following, tick]
    b.release_lease()


def test_a_schedule_of_a_missing_monitor_fires_nothing_and_hands_others_on(
    client_factory, sqlite_url: str
) -> None:  # type: ignore[no-untyped-def]
    from usina.pipelines.entities import Schedule

    client = client_factory(sqlite_url)
    handed: list[str] = []
    launch = launcher(client.monitors, lambda s, tick: handed.append(s.name) or "run-1")

    def schedule(name: str, target: str) -> Schedule:
        return Schedule(name, target, "@hourly", {}, "skip", False, T0, None, T0, "t")

    assert launch(schedule("monitor.gone", "monitor:gone"), T0) is None
    assert launch(schedule("nightly", "flows.py:nightly"), T0) == "run-1"
    assert handed == ["nightly"]
