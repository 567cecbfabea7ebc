"""The pipeline commands, as a person types them: exit codes, messages, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from resources import pipelines as p
from resources.waiting import wait_until

PIPELINES = str(Path(p.__file__))


@pytest.fixture
def usina(tmp_path):  # type: ignore[no-untyped-def]
    exe = Path(sys.executable).parent / "usina"
    env = {**os.environ, "USINA_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    env.pop("USINA_DB_URL", None)
    env.pop("USINA_ARTIFACTS", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(exe), *args], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
        )

    return run


def test_run_fail_resume_and_lineage_from_the_command_line(usina, workdir) -> None:
    failed = usina("run", f"{PIPELINES}:resumable", "-p", f"workdir={workdir}")
    assert failed.returncode == 1
    assert "RuntimeError: upstream file not ready" in failed.stderr
    run_id = failed.stderr.split("usina run --resume ")[1].split()[0]
    Path(workdir, "ok").touch()
    resumed = usina("run", "--resume", run_id)
    assert resumed.returncode == 0, resumed.stderr
    assert "succeeded" in resumed.stdout and "2 cached, 2 done" in resumed.stdout

    trained = usina("run", f"{PIPELINES}:training", "-p", f"workdir={workdir}", "-p", "C=0.5")
    assert trained.returncode == 0, trained.stderr
    lineage = usina("lineage", "models:/credit-risk/1")
    assert lineage.returncode == 0, lineage.stderr
    for text in (
        "step train",
        "features: dataset",
        "step features",
        "raw: dataset",
        "step load",
        "40 rows",
    ):
        assert text in lineage.stdout
    shown = usina("pipelines", "runs")
    assert "training" in shown.stdout and f"resume:{run_id}" in shown.stdout


def test_bad_input_prints_one_line_and_exits_2(usina, workdir) -> None:
    cases = [
        (
            ["run", f"{PIPELINES}:chain", "-p", f"workdir={workdir}", "-p", "n=many"],
            "parameter 'n' is int",
        ),
        (["run", f"{PIPELINES}:chain", "-p", "nope=1"], "has no parameter 'nope'"),
        (["run", f"{PIPELINES}:missing"], "has no 'missing'"),
        (["run", "pipeline.py"], "is not FILE.py:NAME"),
        (["run", "--resume", "0" * 32], "no pipeline run"),
        (["lineage", "credit-risk"], "neither a models:/ URI nor sha256:DIGEST"),
        (
            ["schedules", "create", "x", "--cron", "daily", "--pipeline", f"{PIPELINES}:tiny"],
            "is not a cron",
        ),
        (
            ["compile", f"{PIPELINES}:chain", "--target", "argo", "-o", "x.yaml", "--image", "i"],
            "--target 'argo'",
        ),
    ]
    for args, message in cases:
        result = usina(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_compile_writes_kfp_yaml(usina, tmp_path) -> None:
    out = tmp_path / "chain.yaml"
    result = usina(
        "compile",
        f"{PIPELINES}:chain",
        "--target",
        "kfp",
        "-o",
        str(out),
        "--image",
        "python:3.11",
        "--image-ref",
        "src/pipeline.py:chain",
        "--env",
        "USINA_ARTIFACTS=gs://bucket/usina",
    )
    assert result.returncode == 0, result.stderr
    spec = yaml.safe_load(out.read_text())
    assert spec["pipelineInfo"]["name"] == "chain"
    assert len(spec["deploymentSpec"]["executors"]) == 5


def test_schedules_from_the_command_line(usina, workdir) -> None:
    created = usina(
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
    )
    assert created.returncode == 0, created.stderr
    listed = usina("schedules", "list")
    assert "nightly" in listed.stdout and "0 3 * * *" in listed.stdout and "active" in listed.stdout
    assert usina("schedules", "pause", "nightly").returncode == 0
    assert "paused" in usina("schedules", "list").stdout
    assert usina("schedules", "resume", "nightly").returncode == 0
    once = usina("scheduler", "--once")
    assert once.returncode == 0, once.stderr  # nothing due yet
    assert usina("schedules", "delete", "nightly").returncode == 0
    missing = usina("schedules", "pause", "nightly")
    assert missing.returncode == 2 and "no schedule 'nightly'" in missing.stderr


def test_ctrl_c_stops_the_run_and_leaves_nothing_running(
    tmp_path, workdir, client_factory, processes
) -> None:  # type: ignore[no-untyped-def]
    import contextlib
    import signal

    from usina.errors import NotFound
    from usina.pipelines import PipelineStatus

    exe = Path(sys.executable).parent / "usina"
    env = {**os.environ, "USINA_HOME": str(tmp_path / "home")}
    env.pop("USINA_DB_URL", None)
    env.pop("USINA_ARTIFACTS", None)
    # A process group of its own: the runner and the step processes it forks, all ended by
    # the fixture if the test fails half-way. Interruptible: SIGINT reaches it as Ctrl-C in a
    # terminal would, even when this test runs where SIGINT is ignored (a background job).
    proc = processes.start(
        [str(exe), "run", f"{PIPELINES}:parallel", "-p", f"workdir={workdir}", "-p", "seconds=60"],
        own_group=True,
        interruptible=True,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = client_factory(f"sqlite:///{tmp_path / 'home' / 'usina.db'}")

    def both_steps_running() -> bool:
        with contextlib.suppress(NotFound):
            runs = client.tracking.list_runs("parallel")
            return sum(r.tags.get("usina.kind") == "step" for r in runs) == 2
        return False

    wait_until(both_steps_running, 60, "both steps to run")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr

    def group_is_gone() -> bool:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(group_is_gone, 30, "the step processes to end")
    [run] = client.pipelines.list_runs("parallel")
    run = client.pipelines.get_run(run.id)
    assert run.status is PipelineStatus.FAILED
    assert {s.status.value for s in run.steps} == {"failed"}
    assert all("interrupted" in s.error for s in run.steps)
    assert {r.status.value for r in client.tracking.list_runs("parallel")} == {"killed"}


def test_lineage_of_a_model_registered_outside_a_pipeline_shows_its_runs_datasets(
    usina, tmp_path
) -> None:
    from sklearn.linear_model import LogisticRegression

    from usina.client import Client

    client = Client(
        f"sqlite:///{tmp_path / 'home' / 'usina.db'}", str(tmp_path / "home" / "artifacts")
    )
    with client.start_run("credit-risk") as run:
        run.log_input("applications", "ab" * 32, rows=500)
        client.register_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), "plain", run=run)
    client.close()
    shown = usina("lineage", "models:/plain/1")
    assert shown.returncode == 0, shown.stderr
    assert "outside a pipeline" in shown.stdout
    assert "applications: dataset sha256:abababababab, 500 rows" in shown.stdout
