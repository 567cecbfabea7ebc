"""A job killed while writing leaves no partition and is read as failed once its heartbeat goes
stale; one killed while publishing is finished by the next writer."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from batch.conftest import CHAMPION, Scenario, applicants, write_parquet
from resources.processes import StartedProcesses
from resources.waiting import wait_until
from usina.batch import recover, run
from usina.batch.entities import JobStatus

WORKER = Path(__file__).with_name("killed_job.py")


def start(
    processes: StartedProcesses,
    scenario: Scenario,
    mode: str,
    source: Path,
    heartbeat_timeout: float = 60.0,
) -> subprocess.Popen[bytes]:
    client = scenario.client
    db, root = client.db.url, str(scenario.root)
    return processes.start(
        [sys.executable, str(WORKER), mode, db, root, str(source), str(heartbeat_timeout)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def staged(scenario: Scenario) -> list[str]:
    return [k for k in scenario.client.artifacts.list("tables/.staging") if k.endswith(".parquet")]


def test_a_job_killed_while_writing_leaves_no_partition(
    scenario: Scenario, tmp_path: Path, processes: StartedProcesses
) -> None:
    source = write_parquet(applicants(300_000), tmp_path / "in.parquet")
    worker = start(processes, scenario, "scoring", source)
    wait_until(lambda: len(staged(scenario)) >= 2, 120, "the job to stage files")
    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    assert scenario.published("scores") == []
    assert recover(scenario.client.artifacts) == []  # nothing was committed
    assert scenario.published("scores") == []

    run(
        "again",
        CHAMPION,
        str(source),
        "scores",
        {"run_date": "2026-12-01"},
        ["id"],
        client=scenario.client,
    )
    assert len(scenario.table("scores")) == 300_000


def test_a_job_killed_after_its_commit_is_published_by_the_next_writer(
    scenario: Scenario, tmp_path: Path, processes: StartedProcesses
) -> None:
    old = write_parquet(applicants(50), tmp_path / "old.parquet")
    run(
        "before",
        CHAMPION,
        str(old),
        "scores",
        {"run_date": "2026-12-01"},
        ["id"],
        client=scenario.client,
    )
    source = write_parquet(applicants(200_000), tmp_path / "in.parquet")
    worker = start(processes, scenario, "publishing", source)
    assert worker.stdout is not None
    assert worker.stdout.readline() == b"stopped after the commit\n"
    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    assert len(scenario.table("scores")) == 50  # the committed attempt is not visible yet

    assert len(recover(scenario.client.artifacts)) == 1
    table = scenario.table("scores")
    assert len(table) == 200_000
    assert staged(scenario) == []


def test_a_killed_job_is_read_as_failed_once_its_heartbeat_is_stale(
    scenario: Scenario, tmp_path: Path, processes: StartedProcesses, client_factory: Any
) -> None:
    timeout = 2.0  # the worker beats every 0.5 s
    reader = client_factory(scenario.client.db.url, str(scenario.root), heartbeat_timeout=timeout)
    source = write_parquet(applicants(300_000), tmp_path / "in.parquet")
    worker = start(processes, scenario, "scoring", source, heartbeat_timeout=timeout)
    assert worker.stdout is not None
    assert worker.stdout.readline() == b"stopped while scoring\n"
    (job,) = reader.batch.list(name="killed")
    # Alive and beating: still running after more than one timeout has passed.
    first = job.heartbeat_at
    wait_until(
        lambda: reader.batch.get(job.id).heartbeat_at > first + timeout,
        30,
        "the job to beat for longer than the timeout",
    )
    assert reader.batch.get(job.id).status is JobStatus.RUNNING

    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    failed = wait_until(
        lambda: reader.batch.list(status="failed"), 30, "the killed job to be read as failed"
    )
    assert [j.id for j in failed] == [job.id]
    (gone,) = failed
    assert gone.error.startswith("the job's process stopped sending heartbeats at ")
    assert gone.ended_at == gone.heartbeat_at
    assert reader.batch.list(status="running") == []
    assert scenario.published("scores") == []
