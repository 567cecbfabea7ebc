"""Real HTTP servers for tests, on loopback ports.

``ThreadServer`` runs an ASGI app under uvicorn in a thread of the test process (fast, and the
test can reach the app's objects); ``wait_until_serving`` waits for a server subprocess
(``usina server``, ``usina serve``) to answer its readiness route. ``free_port`` picks a port
for a subprocess; a thread server listens on a socket it binds itself, so no other process
can take its port between the pick and the bind.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from resources.waiting import wait_until

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on the loopback interface now (for a server started in another process)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


class ThreadServer:
    """An ASGI app served by uvicorn in a thread, on a loopback port of its own.

    ``start()`` waits (with a deadline) until uvicorn accepts connections, the app's lifespan
    startup included, and returns the base URL; ``stop()`` asks uvicorn to exit, which runs the
    lifespan shutdown, and fails if the thread has not ended by the deadline. As a context
    manager it starts on entry (giving the URL) and stops on exit.

    Example::

        with ThreadServer(app) as url:
            assert httpx.get(f"{url}/healthz").status_code == 200
    """

    def __init__(self, app: Any, *, timeout: float = 30, **config: Any) -> None:
        self.app = app
        self.timeout = timeout
        self.config = {"log_level": "warning", **config}
        self.url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def start(self) -> str:
        """Serve the app; return its base URL once it accepts connections."""
        import uvicorn

        # Made as uvicorn makes its own (getaddrinfo gives proto TCP): asyncio then sets
        # TCP_NODELAY on each accepted connection. A socket.socket() reads proto 0, asyncio
        # skips the option, and every response (headers, then body) waits on the client's
        # delayed ACK: about 40 ms a request instead of one.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((LOOPBACK, 0))
        port = int(self._socket.getsockname()[1])
        self.url = f"http://{LOOPBACK}:{port}"
        server = uvicorn.Server(uvicorn.Config(self.app, host=LOOPBACK, port=port, **self.config))
        self._server = server
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [self._socket]},
            name=f"test-server-{port}",
            daemon=True,  # a server that fails to stop fails its test, not pytest's exit
        )
        self._thread = thread
        thread.start()
        wait_until(
            lambda: server.started or not thread.is_alive(),
            self.timeout,
            f"the test server on {self.url} to start",
        )
        if not server.started:
            self._socket.close()
            raise RuntimeError(f"the test server on {self.url} exited while starting (log above)")
        return self.url

    def stop(self) -> None:
        """Stop serving (lifespan shutdown included); stopping twice is allowed."""
        if self._thread is None:
            return
        thread, self._thread = self._thread, None
        self._server.should_exit = True
        thread.join(self.timeout)
        if self._socket is not None:
            self._socket.close()
        if thread.is_alive():
            raise RuntimeError(f"the test server on {self.url} did not stop in {self.timeout:g} s")

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def wait_until_serving(
    url: str, process: subprocess.Popen[Any], log: Path, timeout: float, ready_path: str
) -> None:
    """Wait until the server ``process`` answers 200 on ``ready_path``; fail with its log if
    it exits first or is not ready within ``timeout`` seconds."""

    def ready() -> bool:
        if process.poll() is not None:
            output = log.read_text(errors="replace")
            raise RuntimeError(f"the server exited with {process.returncode}: {output}")
        return httpx.get(f"{url}{ready_path}", timeout=2).status_code == 200

    wait_until(
        ready,
        timeout,
        lambda: f"{url}{ready_path} to answer 200; server log: {log.read_text(errors='replace')}",
        interval=0.1,
        ignoring=(httpx.HTTPError,),
    )
