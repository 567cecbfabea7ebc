"""Many processes registering at once, and processes killed mid-registration."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from resources.waiting import wait_until
from usina.artifacts import read_bytes
from usina.tracking import Run, RunStatus

WORKER = str(Path(__file__).parents[1] / "resources" / "register_worker.py")


def test_eight_processes_register_four_hundred_versions(
    db_url, tmp_path, client_factory, processes
) -> None:
    artifacts = str(tmp_path / "artifacts")
    client_factory(db_url, artifacts).db.migrate()  # the table race is tested elsewhere
    procs = [
        processes.start(
            [sys.executable, WORKER, db_url, artifacts, "50"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    errors = [err for p, (_, err) in zip(procs, outputs, strict=True) if p.returncode != 0]
    assert errors == [], errors[:1]
    assert all("locked" not in err for _, err in outputs)
    client = client_factory(db_url, artifacts)
    versions = client.registry.list_versions("shared-model")
    assert sorted(v.version for v in versions) == list(range(1, 401))
    assert len({v.created_by for v in versions}) == 8
    assert client.registry.get_model("shared-model").latest_version == 400


def test_killed_registrations_leave_no_half_written_version_or_run(
    db_url, tmp_path, client_factory, processes
) -> None:
    artifacts = str(tmp_path / "artifacts")
    client_factory(db_url, artifacts).db.migrate()
    rng = random.Random(20261126)
    kills = 0
    while kills < 20:
        procs = [
            processes.start(
                [sys.executable, WORKER, db_url, artifacts, "0", "--forever"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            assert line.strip() == "ready", p.stderr.read() if p.stderr else ""
        for p in procs:
            time.sleep(rng.uniform(0.0, 0.4))  # a random point of a registration, not a wait
            os.kill(p.pid, signal.SIGKILL)
            p.communicate(timeout=30)
            assert p.returncode == -signal.SIGKILL
            kills += 1

    check = client_factory(db_url, artifacts, heartbeat_timeout=0.5)
    versions = check.registry.list_versions("shared-model")
    assert sorted(v.version for v in versions) == list(range(1, len(versions) + 1))
    assert len(versions) >= 20
    for v in versions:
        data = read_bytes(check.artifacts, v.digest)  # raises if missing or altered
        assert len(data) == v.size
        assert v.run_id is not None

    # Every blob visible in the store hashes to its name: no half-written artifact.
    for key in check.artifacts.list("sha256"):
        with check.artifacts.open(key) as f:
            assert hashlib.sha256(f.read()).hexdigest() == key.rsplit("/", 1)[1]

    def runs_ended() -> list[Run]:
        runs = check.tracking.list_runs(experiment="workers", limit=10_000)
        return runs if all(r.status is not RunStatus.RUNNING for r in runs) else []

    # The killed runs end once their heartbeats go stale.
    runs = wait_until(runs_ended, 30, "the workers' runs, every one ended")
    for run in runs:
        assert set(run.params) == {"pid", "i"}, "a run is created with its params, atomically"
        assert run.status in (RunStatus.FINISHED, RunStatus.FAILED)
    assert sum(r.status is RunStatus.FAILED for r in runs) >= 1

    if db_url.startswith("sqlite"):
        with check.db.read() as conn:
            assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
