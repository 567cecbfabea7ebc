"""Many processes registering at once, and processes killed mid-registration."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from resources.processes import StartedProcesses
from resources.waiting import wait_until
from usina.artifacts import read_bytes
from usina.tracking import Run, RunStatus

WORKER = str(Path(__file__).parents[1] / "resources" / "register_worker.py")


class Workers:
    """Worker processes forked by one ``register_worker.py`` parent (see its docstring)."""

    def __init__(self, processes: StartedProcesses, db_url: str, artifacts: str) -> None:
        # Its own process group: ending it at the test's end ends the workers it forked.
        self.parent = processes.start(
            [sys.executable, WORKER, db_url, artifacts],
            own_group=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def send(self, command: str) -> None:
        assert self.parent.stdin is not None
        self.parent.stdin.write(command + "\n")
        self.parent.stdin.flush()

    def line(self, prefix: str, timeout: float = 600) -> list[str]:
        """The parent's or a worker's next line, which must start with ``prefix``; past the
        timeout the parent's group is killed, which ends the read."""
        assert self.parent.stdout is not None
        watchdog = threading.Timer(timeout, os.killpg, (self.parent.pid, signal.SIGKILL))
        watchdog.start()
        try:
            line = self.parent.stdout.readline()
        finally:
            watchdog.cancel()
        if not line.startswith(prefix):
            _, err = self.parent.communicate(timeout=60)
            raise AssertionError(f"expected {prefix!r}, got {line!r}; stderr: {err}")
        return line.split()[1:]

    def ended(self, pid: int) -> int:
        """Wait for worker ``pid`` to end; its exit code, or minus its signal."""
        self.send(f"wait {pid}")
        ended_pid, code = self.line("ended ")
        assert int(ended_pid) == pid
        return int(code)

    def finish(self) -> str:
        """Let the parent exit; its (and its workers') stderr."""
        _, err = self.parent.communicate(timeout=120)
        assert self.parent.returncode == 0, err
        return err


def test_eight_processes_register_four_hundred_versions(
    db_url, tmp_path, client_factory, processes
) -> None:
    artifacts = str(tmp_path / "artifacts")
    client_factory(db_url, artifacts).db.migrate()  # the table race is tested elsewhere
    workers = Workers(processes, db_url, artifacts)
    workers.send("start 8 50")
    workers.send("wait all")
    codes = [int(workers.line("ended ")[1]) for _ in range(8)]
    err = workers.finish()
    assert codes == [0] * 8, err
    assert "locked" not in err
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
    workers = Workers(processes, db_url, artifacts)
    kills = 0
    while kills < 20:
        workers.send("start 4 forever")
        pids = [int(workers.line("ready ")[0]) for _ in range(4)]
        for pid in pids:
            time.sleep(rng.uniform(0.0, 0.4))  # a random point of a registration, not a wait
            os.kill(pid, signal.SIGKILL)
            assert workers.ended(pid) == -signal.SIGKILL
            kills += 1
    workers.finish()

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
