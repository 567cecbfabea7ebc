"""A real server on a free loopback port: in a thread of the test process (fast), or as
``usina server`` subprocesses where workers and resident memory are under test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from resources.keys import keys_under_test
from resources.processes import StartedProcesses
from resources.servers import ThreadServer, free_port, wait_until_serving

__all__ = ["free_port"]


@dataclass
class LiveServer:
    url: str
    artifacts: Path


@pytest.fixture
def serve_app() -> Iterator[Callable[[Any], str]]:
    """Serve ASGI apps in uvicorn threads on loopback ports (their base URLs); each is
    stopped gracefully, its lifespan's shutdown included, after the test."""
    running: list[ThreadServer] = []

    def start(app: Any) -> str:
        server = ThreadServer(app)
        running.append(server)
        return server.start()

    yield start
    for server in reversed(running):
        server.stop()


@pytest.fixture
def live_server(db_url: str, tmp_path: Path, serve_app) -> LiveServer:  # type: ignore[no-untyped-def]
    """The API over ``db_url`` (SQLite, then PostgreSQL) in a uvicorn thread."""
    from usina.server import ServerConfig, create_app

    artifacts = tmp_path / "server-artifacts"
    app = create_app(ServerConfig(db_url=db_url, artifacts=str(artifacts), keys=keys_under_test()))
    return LiveServer(serve_app(app), artifacts)


@pytest.fixture
def remote_factory(live_server: LiveServer):  # type: ignore[no-untyped-def]
    """Clients of the live server, closed after the test."""
    from usina.client import Client

    made: list[Client] = []

    def make(**kwargs: object) -> Client:
        c = Client(live_server.url, **kwargs)  # type: ignore[arg-type]
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def start_server(
    tmp_path: Path, processes: StartedProcesses
) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``usina server`` subprocesses, each leading a process group of its own; after the
    test, each group still running (workers, the scheduler) gets SIGTERM, then SIGKILL."""

    def start(
        *args: str, env: dict[str, str] | None = None, host: str = "127.0.0.1", timeout: float = 60
    ) -> ServerProcess:
        port = free_port()
        log = tmp_path / f"server-{port}.log"
        full_env = {**os.environ, "USINA_HOME": str(tmp_path / "home"), **(env or {})}
        full_env.pop("USINA_URL", None)
        command = [sys.executable, "-m", "usina", "server", "--host", host, "--port", str(port)]
        with log.open("wb") as out:
            process = processes.start(
                [*command, *args],
                own_group=True,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
            )
        handle = ServerProcess(f"http://{host}:{port}", process, log)
        wait_until_serving(handle.url, process, log, timeout, "/readyz")
        return handle

    yield start
