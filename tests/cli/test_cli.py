"""The command line, run as a user runs it: a separate process, output and exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def usina(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    env["USINA_HOME"] = str(home)
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "usina", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture
def registered(home: Path) -> Path:
    """A home with model ``m`` at versions 1 and 2, champion moved 1 -> 2, from one run."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from usina.client import Client
    from usina.settings import Settings

    client = Client.from_settings(Settings(home=home))
    x = np.random.default_rng(0).normal(size=(50, 2))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    with client.start_run("exp", name="first", params={"C": 1}) as run:
        run.log_metrics({"auc": 0.9})
        client.register_model(model, "m", run=run, input_example=x[:2])
    client.register_model(model, "m")
    client.set_alias("m", "champion", 1, reason="first")
    client.set_alias("m", "champion", 2, reason="better")
    client.close()
    return home


def test_version_and_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "usina", "--version"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and out.stdout.startswith("usina ")
    out = subprocess.run(
        [sys.executable, "-m", "usina", "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0
    for command in ("demo", "experiments", "runs", "models"):
        assert command in out.stdout


def test_models_commands_show_the_registry(registered: Path) -> None:
    out = usina(registered, "models", "list")
    assert out.returncode == 0 and "champion→v2" in out.stdout
    out = usina(registered, "models", "versions", "m")
    assert out.returncode == 0 and "v2" in out.stdout and "v1" in out.stdout
    out = usina(registered, "models", "show", "models:/m/1")
    assert out.returncode == 0
    assert "m v1" in out.stdout and "params C=1" in out.stdout and "auc=0.9" in out.stdout
    out = usina(registered, "models", "show", "m")
    assert out.returncode == 0 and "m v2" in out.stdout


def test_alias_rollback_and_history(registered: Path) -> None:
    out = usina(registered, "models", "rollback", "m", "--reason", "bad v2")
    assert out.returncode == 0 and "v2 → v1" in out.stdout
    out = usina(registered, "models", "alias", "m", "champion", "2", "-r", "fixed")
    assert out.returncode == 0 and "→ v2 (was v1)" in out.stdout
    out = usina(registered, "models", "history", "m")
    assert out.returncode == 0
    for word in ("rollback", "bad v2", "fixed", "better"):
        assert word in out.stdout
    out = usina(registered, "models", "history", "m", "--json")
    import json

    moves = json.loads(out.stdout)
    assert [(m["action"], m["to_version"]) for m in moves] == [
        ("set", 1),
        ("set", 2),
        ("rollback", 1),
        ("set", 2),
    ]


def test_experiments_and_runs(registered: Path) -> None:
    out = usina(registered, "experiments", "list")
    assert out.returncode == 0 and "exp" in out.stdout
    out = usina(registered, "runs", "list", "--json")
    import json

    runs = json.loads(out.stdout)
    assert [r["name"] for r in runs] == ["first"]
    out = usina(registered, "runs", "show", runs[0]["id"][:8])
    assert out.returncode == 0 and "C = 1" in out.stdout and "auc = 0.9" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("models", "show", "ghost"), "no model named 'ghost'"),
        (("models", "show", "models:/m/9"), "has no version 9"),
        (("models", "show", "models:/m@prod"), "has no alias 'prod'"),
        (("models", "show", "models:/m@"), "is not a model URI"),
        (("models", "show", "s3://x/y"), "neither a model name nor a models:/ URI"),
        (("models", "alias", "m", "champion", "9"), "has no version 9"),
        (("models", "alias", "m", "champion"), "give the version"),
        (("models", "rollback", "m", "--alias", "prod"), "has no alias 'prod'"),
        (("runs", "show", "zzz"), "run ids are 32 hex"),
        (("runs", "list", "--status", "done"), "status 'done' is not one of"),
        (("runs", "list", "--experiment", "nope"), "no experiment named 'nope'"),
    ],
)
def test_mistakes_print_one_line_and_exit_2(
    registered: Path, args: tuple[str, ...], message: str
) -> None:
    out = usina(registered, *args)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2(home: Path) -> None:
    out = usina(home, "models", "alias", "m", "champion", "not-a-number")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    out = usina(home, "no-such-command")
    assert out.returncode == 2


def test_a_bad_database_url_is_one_line(home: Path) -> None:
    env_home = home
    env = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    env.update({"USINA_HOME": str(env_home), "USINA_DB_URL": "nonsense"})
    out = subprocess.run(
        [sys.executable, "-m", "usina", "models", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2 and "USINA_DB_URL" in out.stderr and "Traceback" not in out.stderr


def test_a_refused_setting_names_its_variable_and_exits_2(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    env.update(USINA_HOME=str(home), USINA_SERVE_WORKERS="0", COLUMNS="200")
    out = subprocess.run(
        [sys.executable, "-m", "usina", "serve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2
    assert "USINA_SERVE_WORKERS='0'" in out.stderr and "greater than or equal to 1" in out.stderr
    assert "Traceback" not in out.stderr
