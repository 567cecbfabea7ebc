"""A real server on a free loopback port: in a thread of the test process (fast), or as
``usina server`` subprocesses where workers and resident memory are under test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    artifacts: Path


@pytest.fixture
def serve_app() -> Iterator[Callable[[Any], str]]:
    """Serve ASGI apps in uvicorn threads on free loopback ports (their base URLs); each is
    stopped gracefully, its lifespan's shutdown included, after the test."""
    import uvicorn

    running: list[tuple[Any, threading.Thread]] = []

    def start(app: Any) -> str:
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread))
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def live_server(db_url: str, tmp_path: Path, serve_app) -> LiveServer:  # type: ignore[no-untyped-def]
    """The API over ``db_url`` (SQLite, then PostgreSQL) in a uvicorn thread."""
    from usina.server import ServerConfig, create_app

    artifacts = tmp_path / "server-artifacts"
    app = create_app(ServerConfig(db_url=db_url, artifacts=str(artifacts)))
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
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``usina server`` subprocesses; each is stopped (SIGTERM, then SIGKILL) after."""
    started: list[ServerProcess] = []

    def start(
        *args: str, env: dict[str, str] | None = None, host: str = "127.0.0.1", timeout: float = 60
    ) -> ServerProcess:
        port = free_port()
        log = tmp_path / f"server-{port}.log"
        full_env = {**os.environ, "USINA_HOME": str(tmp_path / "home"), **(env or {})}
        full_env.pop("USINA_URL", None)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "usina",
                    "server",
                    "--host",
                    host,
                    "--port",
                    str(port),
                    *args,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
            )
        handle = ServerProcess(f"http://{host}:{port}", process, log)
        started.append(handle)
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"usina server exited: {handle.output()}")
            try:
                if httpx.get(f"{handle.url}/readyz", timeout=2).status_code == 200:
                    return handle
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"usina server did not get ready: {handle.output()}")
            time.sleep(0.1)

    yield start
    for handle in started:
        handle.process.terminate()
        try:
            handle.process.wait(15)
        except subprocess.TimeoutExpired:
            handle.process.kill()
            handle.process.wait()
