"""Batch jobs on a cron schedule: each tick fires one job, whatever the number of schedulers,
and the tick's date names the partition."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest

from batch.conftest import CHAMPION, Scenario, applicants, write_parquet
from usina.batch.schedules import TARGET, batch_params, with_batch
from usina.errors import InvalidInput
from usina.pipelines.schedules import Scheduler, run_inline

T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC).timestamp()  # an hour before 03:00
TICK = 3600.0


def test_each_tick_fires_one_job_with_two_schedulers(
    scenario: Scenario, tmp_path: Path, client_factory: Any
) -> None:
    source = write_parquet(applicants(500), tmp_path / "in.parquet")
    params = batch_params(CHAMPION, str(source), "scores", {"run_date": "{date}"}, ["id"])
    scenario.client.schedules.create("nightly", f"{TARGET}nightly", "0 3 * * *", params, now=T0)
    url = scenario.client.db.url
    schedulers = []
    for holder in ("a", "b"):
        c = client_factory(url, str(scenario.root))
        # The lease lapses at once, so the two contend for every tick; the per-tick claim is
        # what keeps a tick from firing twice.
        schedulers.append(
            Scheduler(c.schedules, with_batch(c, run_inline(c)), holder=holder, lease_s=1e-6)
        )
    fired: list[Any] = []
    for day in range(2):
        now = T0 + TICK + day * 86400 + 5
        barrier = threading.Barrier(2)

        def work(s: Scheduler, at: float = now, gate: threading.Barrier = barrier) -> None:
            gate.wait(30)
            fired.extend(s.run_pending(at))

        threads = [threading.Thread(target=work, args=(s,)) for s in schedulers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert sorted(f.tick for f in fired) == [T0 + TICK, T0 + TICK + 86400]
    jobs = scenario.client.batch.list(name="nightly")
    assert sorted(j.id for j in jobs) == sorted(f.pipeline_run_id for f in fired)
    assert {j.status.value for j in jobs} == {"succeeded"}
    assert sorted(j.trigger for j in jobs) == [
        "schedule:nightly@2026-12-01T03:00:00Z",
        "schedule:nightly@2026-12-02T03:00:00Z",
    ]
    table = scenario.table("scores")
    assert table.groupby("run_date").size().to_dict() == {"2026-12-01": 500, "2026-12-02": 500}


def test_a_failing_scheduled_job_is_recorded_and_the_scheduler_goes_on(
    scenario: Scenario, tmp_path: Path
) -> None:
    source = write_parquet(applicants(10).drop(columns=["income"]), tmp_path / "in.parquet")
    params = batch_params(CHAMPION, str(source), "scores", {"run_date": "{date}"}, ["id"])
    client = scenario.client
    client.schedules.create("nightly", f"{TARGET}nightly", "0 3 * * *", params, now=T0)
    fires = Scheduler(client.schedules, with_batch(client, run_inline(client))).run_pending(
        T0 + TICK + 5
    )
    (job,) = client.batch.list()
    assert fires[0].pipeline_run_id == job.id
    assert job.status.value == "failed" and "'income' is missing" in job.error
    assert scenario.published("scores") == []


def test_bad_schedule_options_are_refused_before_anything_is_stored() -> None:
    with pytest.raises(InvalidInput) as caught:
        batch_params(CHAMPION, "in.parquet", "scores", {"run_date": "{day}"})
    assert caught.value.field == "partition"
    with pytest.raises(InvalidInput) as caught:
        batch_params(CHAMPION, "in.parquet", "bad-name", None)
    assert caught.value.field == "output"
    with pytest.raises(InvalidInput) as caught:
        batch_params(CHAMPION, "in.parquet", "scores", None, on_error="ignore")
    assert caught.value.field == "on_error"
