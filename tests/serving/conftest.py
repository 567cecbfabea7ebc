"""Serving fixtures: small registered models and a real HTTP server on a loopback port.

``serve(client)`` starts the inference app under uvicorn in a thread on 127.0.0.1 and a free
port; ``usina_serve(...)`` starts ``usina serve`` as a subprocess (for multi-worker and SIGKILL
tests). Both are stopped gracefully at the end of the test unless the test killed them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

from resources.processes import StartedProcesses
from resources.servers import ThreadServer, free_port, wait_until_serving
from usina.client import Client
from usina.serving import ServingConfig, SqlEndpointStore, create_app

__all__ = ["free_port"]

ROOT = Path(__file__).resolve().parents[2]


def run_usina(client: Any, *args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run the ``usina`` command on ``client``'s database and artifact folder."""
    env = {
        **os.environ,
        "USINA_DB_URL": client.db.url,
        "USINA_ARTIFACTS": str(client.artifacts.uri).removeprefix("file://"),
    }
    usina = str(Path(sys.executable).parent / "usina")
    return subprocess.run([usina, *args], env=env, capture_output=True, cwd=cwd, timeout=300)


def usina_json(client: Any, *args: str, cwd: Path) -> Any:
    """The ``--json`` output of a ``usina`` command that must succeed."""
    done = run_usina(client, *args, "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr.decode()
    return orjson.loads(done.stdout)


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` started (its request log writer, for ``usina serve``)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


GOOGLE_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
VERTEX_STATUS = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    503: "UNAVAILABLE",
}
MLFLOW_CODES = {
    400: "BAD_REQUEST",
    404: "RESOURCE_DOES_NOT_EXIST",
    413: "BAD_REQUEST",
    503: "TEMPORARILY_UNAVAILABLE",
}


def protocol_error(response: httpx.Response) -> tuple[str, str | None]:
    """The message and field of an inference error answer, after checking that the body has
    the shape its protocol documents (told apart by the request's path)."""
    path = response.request.url.path
    body = response.json()
    status = response.status_code
    if path.endswith((":predict", ":rawPredict")):  # Vertex AI: Google's error shape
        assert set(body) == {"error"}, body
        error = body["error"]
        assert error["code"] == status and error["status"] == VERTEX_STATUS[status], body
        fields = [
            violation["field"]
            for detail in error.get("details", [])
            if detail["@type"] == GOOGLE_BAD_REQUEST
            for violation in detail["fieldViolations"]
        ]
        assert len(fields) <= 1, body
        return error["message"], fields[0] if fields else None
    if path.startswith("/v2/"):  # Open Inference: {"error": message}, plus usina's field
        assert set(body) <= {"error", "field"} and isinstance(body["error"], str), body
        return body["error"], body.get("field")
    # MLflow scoring: {"error_code", "message"}, plus usina's field
    assert set(body) <= {"error_code", "message", "field"}, body
    assert body["error_code"] == MLFLOW_CODES[status], body
    return body["message"], body.get("field")


@pytest.fixture(scope="session")
def credit_data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    x = pd.DataFrame(
        {
            "age": rng.integers(18, 80, 400).astype("int64"),
            "income": rng.normal(5.0, 1.5, 400),
            "debt": rng.normal(2.0, 1.0, 400),
        }
    )
    y = ((x["income"] - x["debt"] + rng.normal(0, 0.5, 400)) < 3.0).astype(int).to_numpy()
    return x, y


@pytest.fixture(scope="session")
def gbc(credit_data: tuple[pd.DataFrame, np.ndarray]) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    x, y = credit_data
    return GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0).fit(x, y)


def _constant_model(x: pd.DataFrame, value: int) -> Any:
    from sklearn.dummy import DummyClassifier

    y = np.array([value] * (len(x) - 1) + [value + 1])
    return DummyClassifier(strategy="constant", constant=value).fit(x, y)


@pytest.fixture
def three_versions(endpoints: Any, credit_data: Any) -> tuple[Client, SqlEndpointStore]:
    """Versions 1, 2, 3 of credit-risk predict 10, 20, 30: an answer shows its version.

    ``champion`` points at version 1.
    """
    client, store = endpoints
    x, _ = credit_data
    for value in (10, 20, 30):
        client.register_model(_constant_model(x, value), "credit-risk", input_example=x.head())
    client.set_alias("credit-risk", "champion", 1)
    return client, store


@dataclass
class Served:
    """A running server: its base URL and, in-process, the service behind it."""

    url: str
    service: Any = None
    stop: Callable[[], None] = lambda: None
    process: subprocess.Popen[bytes] | None = None


@pytest.fixture
def endpoints(client_factory: Any, sqlite_url: str) -> Iterator[tuple[Client, SqlEndpointStore]]:
    client = client_factory(sqlite_url)
    yield client, SqlEndpointStore(client.db, "tester", artifacts=client.artifacts)


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """Start the inference app in a thread; stop it gracefully at the end."""
    running: list[ThreadServer] = []

    def start(client: Client, **config: Any) -> Served:
        # The log is written by a thread here: the writer process starts a Python per server,
        # and the tests that need it run ``usina serve`` (``usina_serve``) or test it directly.
        options = {
            "poll_interval": 0.2,
            "log_flush_interval": 0.2,
            "log_file_interval": 0.2,
            "log_out_of_process": False,
            **config,
        }
        app = create_app(client.db, client.artifacts, ServingConfig(**options))
        server = ThreadServer(app, lifespan="on")
        running.append(server)
        return Served(server.start(), app.state.service, server.stop)

    yield start
    for server in reversed(running):
        server.stop()


@pytest.fixture
def usina_serve(tmp_path: Path, processes: StartedProcesses) -> Callable[..., Served]:
    """Start ``usina serve`` in a subprocess with the given settings; wait until it is ready.

    Each leads a process group of its own (its workers), stopped after the test unless the
    test ended it.
    """

    def start(client: Client, workers: int = 1, **env: str) -> Served:
        port = free_port()
        environ = {
            **os.environ,
            "USINA_DB_URL": client.db.url,
            "USINA_ARTIFACTS": str(client.artifacts.uri).removeprefix("file://"),
            "USINA_SERVE_PORT": str(port),
            "USINA_SERVE_WORKERS": str(workers),
            **env,
        }
        environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        log = tmp_path / f"serve-{port}.log"
        with log.open("wb") as out:
            process = processes.start(
                [str(Path(sys.executable).parent / "usina"), "serve"],
                own_group=True,
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, process, log, 90, "/v2/health/ready")
        return Served(url, process=process)

    return start
