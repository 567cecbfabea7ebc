"""The command line works through a server: ``usina --url ...`` and ``USINA_URL``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from resources.processes import StartedProcesses
from resources.servers import free_port, wait_until_serving
from usina.server.launch import exposure_warning


def usina(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "usina", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_works_through_the_server(live_server, remote_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    client = remote_factory()
    model = LogisticRegression().fit([[0.0], [1.0], [2.0]], [0, 1, 1])
    with client.start_run("cli", params={"C": 1}) as run:
        run.log_metric("auc", 0.8)
        client.register_model(model, "credit", run=run)
        client.register_model(model, "credit", run=run)

    # Run from an empty folder: nothing local can answer, only the server.
    listed = usina("--url", live_server.url, "models", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [(m["name"], m["latest_version"]) for m in json.loads(listed.stdout)] == [("credit", 2)]
    assert not (tmp_path / ".usina").exists(), "no local state was created"

    moved = usina(
        "--url",
        live_server.url,
        "models",
        "alias",
        "credit",
        "champion",
        "2",
        "-r",
        "better",
        cwd=tmp_path,
    )
    assert moved.returncode == 0, moved.stderr
    shown = usina(
        "models",
        "show",
        "models:/credit@champion",
        env={"USINA_URL": live_server.url},
        cwd=tmp_path,
    )
    assert shown.returncode == 0 and "credit v2" in shown.stdout and "C=1" in shown.stdout, (
        shown.stdout
    )
    runs = usina("--url", live_server.url, "runs", "list", "--json", cwd=tmp_path)
    assert json.loads(runs.stdout)[0]["metrics"] == {"auc": 0.8}
    history = httpx.get(f"{live_server.url}/api/v1/models/credit/history").json()["items"]
    assert [(h["to_version"], h["reason"]) for h in history] == [(2, "better")]

    # The top-level Python API follows USINA_URL too.
    script = (
        "import usina\n"
        "with usina.start_run('from-env') as run:\n"
        "    run.log_metric('auc', 0.7)\n"
        "print(usina.load_model('models:/credit@champion').__class__.__name__)\n"
    )
    api = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("USINA_")},
            "USINA_URL": live_server.url,
        },
        timeout=120,
    )
    assert api.returncode == 0 and api.stdout.strip() == "LogisticRegression", api.stderr
    assert [r.experiment for r in client.tracking.list_runs(experiment="from-env")] == ["from-env"]
    assert not (tmp_path / ".usina").exists(), "no local state was created"

    missing = usina("--url", live_server.url, "models", "show", "ghost", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.strip().startswith(
        "error: no model named 'ghost'"
    )


def test_an_unreachable_server_is_one_clear_line(tmp_path: Path) -> None:
    result = usina("--url", "http://127.0.0.1:1", "models", "list", cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot reach the usina server at http://127.0.0.1:1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_listening_beyond_loopback_warns() -> None:
    assert exposure_warning("127.0.0.1") is None
    assert exposure_warning("localhost") is None
    assert exposure_warning("0.0.0.0", auth=True) is None
    warning = exposure_warning("0.0.0.0")
    assert warning is not None and "no authentication" in warning and "USINA_AUTH" in warning


def test_server_beyond_loopback_without_auth_refuses_to_start(tmp_path: Path) -> None:
    # 127.0.0.2 is still this machine's loopback, so the tests expose nothing; the server
    # treats any address but 127.0.0.1, localhost and ::1 as reachable by others.
    port = str(free_port())
    result = usina("server", "--host", "127.0.0.2", "--port", port, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: refusing to listen on 127.0.0.2 with USINA_AUTH=off")
    assert "--insecure" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_server_insecure_warns_when_bound_beyond_127_0_0_1(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server("--insecure", host="127.0.0.2")
    assert "warning: listening on 127.0.0.2 with --insecure" in server.output()
    assert "no authentication" in server.output()
    assert httpx.get(f"{server.url}/healthz").status_code == 200, "the bound host is allowed"
    assert httpx.get(f"{server.url}/healthz", headers={"Host": "other.example"}).status_code == 400


def test_server_with_auth_on_binds_beyond_loopback_without_warning(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(host="127.0.0.2", env={"USINA_AUTH": "on"})
    assert "warning" not in server.output()
    assert httpx.get(f"{server.url}/healthz").status_code == 200, "health needs no token"
    assert httpx.get(f"{server.url}/api/v1/models").status_code == 401


def test_serve_beyond_loopback_without_auth_refuses_to_start(tmp_path: Path) -> None:
    # 'usina serve' answers predictions and endpoint metadata: the same rule as the server's,
    # whether the address comes from --host or USINA_SERVE_HOST.
    port = str(free_port())
    env = {"USINA_HOME": str(tmp_path / "home")}
    for args, extra in (
        (("--host", "127.0.0.2"), {}),
        ((), {"USINA_SERVE_HOST": "127.0.0.2"}),
    ):
        result = usina("serve", "--port", port, *args, env={**env, **extra}, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(
            "error: refusing to listen on 127.0.0.2 with USINA_AUTH=off"
        ), result.stderr
        assert "--insecure" in result.stderr and "call every endpoint" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    ("option", "auth", "models_status"), [("--insecure", "off", 200), (None, "on", 401)]
)
def test_serve_beyond_loopback_starts_with_insecure_or_auth(
    tmp_path: Path, processes: StartedProcesses, option: str | None, auth: str, models_status: int
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    env.update(USINA_HOME=str(tmp_path / "home"), USINA_AUTH=auth)
    command = [sys.executable, "-m", "usina", "serve", "--host", "127.0.0.2", "--port", str(port)]
    with log.open("wb") as out:
        process = processes.start(
            [*command, *([option] if option else [])],
            own_group=True,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    url = f"http://127.0.0.2:{port}"
    wait_until_serving(url, process, log, 90, "/ping")
    output = log.read_text(errors="replace")
    if option == "--insecure":
        assert "warning: listening on 127.0.0.2 with --insecure" in output
        assert "no authentication" in output and "call every endpoint" in output
    else:
        assert "warning" not in output
    assert httpx.get(f"{url}/v1/endpoints").status_code == models_status


def test_server_refuses_to_serve_another_server(tmp_path: Path) -> None:
    result = usina("--url", "http://127.0.0.1:1", "server", cwd=tmp_path)
    assert result.returncode == 2 and "unset USINA_URL" in result.stderr


def test_a_bad_configuration_is_one_line_before_any_worker_starts(tmp_path: Path) -> None:
    result = usina("server", env={"USINA_DB_URL": "not a url"}, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: USINA_DB_URL"), result.stderr
    result = usina("server", env={"USINA_ARTIFACTS": "ftp://host/x"}, cwd=tmp_path)
    assert result.returncode == 2 and "unknown artifact store scheme 'ftp'" in result.stderr
