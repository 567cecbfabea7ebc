"""Every pipeline, lineage and schedule command works through a shared ``usina server``
(``USINA_URL``), and its ``--json`` output is what the same command prints on the database
directly, on SQLite and on PostgreSQL. The other families are compared row by row in
``tests/cli/test_remote_parity.py``; these commands need a pipeline run first, so they are
compared along one story instead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from resources import pipelines as p
from resources.cli_session import CliSession
from resources.processes import StartedProcesses
from resources.servers import free_port, wait_until_serving

PIPELINES = str(Path(p.__file__))
Usina = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def stores(db_url: str, tmp_path: Path) -> dict[str, str]:
    """The database (SQLite, then PostgreSQL) and artifact store the server and the direct
    commands share."""
    return {
        "USINA_DB_URL": db_url,
        "USINA_ARTIFACTS": str(tmp_path / "shared-artifacts"),
        "USINA_HOME": str(tmp_path / "home"),
        "COLUMNS": "200",
    }


@pytest.fixture
def server_url(stores: dict[str, str], tmp_path: Path, processes: StartedProcesses) -> str:
    """A ``usina server`` subprocess on a free loopback port, ended by pid after the test."""
    port = free_port()
    env = {**os.environ, **stores}
    env.pop("USINA_URL", None)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = processes.start(
            [sys.executable, "-m", "usina", "server", "--port", str(port), "--no-scheduler"],
            own_group=True,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, process, log, 90, "/readyz")
    return url


def _runner(env: dict[str, str], cwd: Path) -> Iterator[Usina]:
    """``usina`` commands with ``env``, run in turn by one process (``CliSession``): the entry
    point called per command, without a Python start and the imports each time."""
    with CliSession(env, cwd, timeout=300) as session:

        def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
            done = session.run(*args)
            assert done.returncode == code, (args, done.stdout, done.stderr)
            assert "Traceback" not in done.stderr, done.stderr
            return done

        yield run


@pytest.fixture
def remote(server_url: str, tmp_path: Path) -> Iterator[Usina]:
    """Commands through the server: ``USINA_URL`` only, no database or artifact settings."""
    env = {**os.environ, "USINA_URL": server_url, "USINA_HOME": str(tmp_path / "laptop")}
    env.pop("USINA_DB_URL", None)
    env.pop("USINA_ARTIFACTS", None)
    yield from _runner(env, tmp_path)


@pytest.fixture
def direct(stores: dict[str, str], tmp_path: Path) -> Iterator[Usina]:
    """The same commands on the server's database and artifact store directly."""
    env = {**os.environ, **stores}
    env.pop("USINA_URL", None)
    yield from _runner(env, tmp_path)


def _json(done: subprocess.CompletedProcess[str]) -> object:
    return json.loads(done.stdout)


def same(remote: Usina, direct: Usina, *args: str) -> object:
    """Run ``args --json`` both ways; assert the outputs are equal and return it."""
    through_server = _json(remote(*args, "--json"))
    assert through_server == _json(direct(*args, "--json")), args
    return through_server


def test_pipeline_commands_through_a_server_match_the_database(
    remote: Usina, direct: Usina, workdir: str, tmp_path: Path
) -> None:
    # A run through the server: recorded there, its steps executed here.
    trained = _json(remote("run", f"{PIPELINES}:training", "-p", f"workdir={workdir}", "--json"))
    assert isinstance(trained, dict) and trained["status"] == "succeeded"
    assert {s["node"]: s["status"] for s in trained["steps"]} == {
        "load": "done",
        "features": "done",
        "train": "done",
        "evaluate": "done",
    }
    run_id = trained["id"]
    assert same(remote, direct, "pipelines", "show", run_id) == trained

    runs = same(remote, direct, "pipelines", "runs")
    assert [r["id"] for r in runs] == [run_id]  # type: ignore[union-attr,index]

    logs = same(remote, direct, "pipelines", "logs", run_id, "load")
    assert logs["log"] == "loading 40 rows\n"  # type: ignore[index]

    # Lineage of the version the training step registered, and of one dataset.
    lineage = same(remote, direct, "lineage", "models:/credit-risk/1")
    producer = lineage["producer"]  # type: ignore[index]
    assert producer["step"]["node"] == "train" and producer["pipeline"] == "training"
    assert producer["inputs"][0]["produced_by"]["step"]["node"] == "features"
    features = next(s for s in trained["steps"] if s["node"] == "features")
    digest = features["outputs"]["output"]["digest"]
    use = same(remote, direct, "lineage", f"sha256:{digest}")
    assert [s["node"] for s in use["producers"]] == ["features"]  # type: ignore[index]
    assert sorted(s["node"] for s in use["readers"]) == ["evaluate", "train"]  # type: ignore[index]

    # A failed run, resumed through the server: only what failed runs again.
    failed = remote("run", f"{PIPELINES}:resumable", "-p", f"workdir={workdir}", "--json", code=1)
    failed_id = _json(failed)["id"]  # type: ignore[index]
    Path(workdir, "ok").touch()
    resumed = _json(remote("run", "--resume", failed_id, "--json"))
    assert resumed["status"] == "succeeded" and resumed["resumed_from"] == failed_id  # type: ignore[index]
    assert sorted(s["status"] for s in resumed["steps"]) == ["cached", "cached", "done", "done"]  # type: ignore[index]
    assert [r["id"] for r in same(remote, direct, "pipelines", "runs", "--limit", "2")] == [  # type: ignore[union-attr,index]
        resumed["id"],  # type: ignore[index]
        failed_id,
    ]

    # Errors come back as the same one-line message and exit status 2.
    missing = remote("pipelines", "show", "0" * 32, code=2)
    assert "no pipeline run" in missing.stderr
    assert "needs the database directly" not in missing.stderr


def test_schedule_commands_through_a_server_match_the_database(
    remote: Usina, direct: Usina, workdir: str
) -> None:
    created = _json(
        remote(
            "schedules",
            "create",
            "nightly",
            "--cron",
            "0 3 * * *",
            "--pipeline",
            f"{PIPELINES}:tiny",
            "-p",
            f"workdir={workdir}",
            "--catchup",
            "once",
            "--json",
        )
    )
    assert created["name"] == "nightly" and created["params"] == {"workdir": workdir}  # type: ignore[index]
    assert same(remote, direct, "schedules", "list") == [created]
    paused = _json(remote("schedules", "pause", "nightly", "--json"))
    assert paused["paused"] is True  # type: ignore[index]
    assert same(remote, direct, "schedules", "list") == [paused]
    resumed = _json(remote("schedules", "resume", "nightly", "--json"))
    assert resumed["paused"] is False  # type: ignore[index]
    # Nothing is due before 03:00: the scheduler leads through the server and fires nothing.
    assert _json(remote("scheduler", "--once", "--json")) == []
    assert _json(remote("schedules", "delete", "nightly", "--json")) == {"deleted": "nightly"}
    assert same(remote, direct, "schedules", "list") == []
    missing = remote("schedules", "pause", "nightly", code=2)
    assert "no schedule 'nightly'" in missing.stderr
