"""Topic fixtures: a log URL for each backend (the embedded file, this machine's Redis and NATS
JetStream), each with a two-second lease: expired leases are seen quickly, and a busy machine
does not see one expire before the test looks."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from resources.requirements import require_service

SERVICES = {"redis": ("Redis", 6379), "nats": ("NATS JetStream", 4222)}


def reachable(port: int) -> str | None:
    """``None`` when 127.0.0.1:``port`` accepts a connection; the error otherwise."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return None
    except OSError as exc:
        return str(exc)


def log_url(backend: str, tmp_path: Path, lease: float = 2.0) -> str:
    if backend == "embedded":
        return f"sqlite:///{tmp_path / 'topics.db'}?lease={lease:g}"
    name, port = SERVICES[backend]
    problem = reachable(port)
    if problem is not None:
        require_service(name, f"127.0.0.1:{port}: {problem}")
    scheme = "redis" if backend == "redis" else "nats"
    path = "/0" if backend == "redis" else ""
    return f"{scheme}://127.0.0.1:{port}{path}?lease={lease:g}"


@pytest.fixture(params=["embedded", "redis", "nats"])
def topics_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A topic log URL on each backend in turn."""
    return log_url(request.param, tmp_path)
