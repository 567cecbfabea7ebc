"""The serving chapter of the demo: deploy the champion, send traffic, roll back under it.

:func:`roll_back_under_traffic` is what ``usina demo`` calls: it makes sure an endpoint follows
``models:/MODEL@ALIAS``, serves it on a loopback port, sends requests from a few threads, rolls
the alias back halfway through, stops the server gracefully (so the request log is complete)
and returns what happened, with the endpoint's latency and error figures. Through a usina
server (``USINA_URL``), the server answers the traffic itself.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from usina.client import Client
from usina.errors import NotFound
from usina.registry import AliasChange
from usina.serving import ServingConfig, VersionStats, create_app


@dataclass(frozen=True)
class TrafficReport:
    """What the traffic saw: answers per version, failures, the rollback and the stats."""

    requests: int
    failed: int
    answers_by_version: dict[int, int]
    rollback: AliasChange
    stats: list[VersionStats]


@contextlib.contextmanager
def serving(client: Client, endpoint: str) -> Iterator[str]:
    """The URL of ``endpoint``'s Vertex AI predict route while the block runs: a serving app on
    a loopback port in this process (stopped gracefully at the end, so the request log is
    complete), or through a usina server (``USINA_URL``) the server's own route."""
    if client.server is not None:
        # A usina server answers every endpoint on its own port: send the traffic there.
        yield f"{client.server.url}/v1/endpoints/{endpoint}:predict"
        return
    import uvicorn

    assert client.db is not None
    config = ServingConfig(poll_interval=0.2, log_flush_interval=0.5, log_file_interval=0.5)
    app = create_app(client.db, client.artifacts, config)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    runner = threading.Thread(target=server.run, name="usina-demo-serving", daemon=True)
    runner.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not runner.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the demo's serving app did not start within 60 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1/endpoints/{endpoint}:predict"
    finally:
        server.should_exit = True  # a graceful stop writes the whole request log
        runner.join()


def send(
    url: str,
    instances: list[dict[str, Any]],
    requests: int,
    threads: int = 4,
    halfway: Callable[[], None] | None = None,
    until: Callable[[Counter[int]], bool] | None = None,
    until_s: float = 30.0,
) -> tuple[Counter[int], int]:
    """Send ``requests`` one-row predictions to ``url`` from ``threads`` threads, cycling
    through ``instances``; call ``halfway`` once half of them are sent. With ``until``, keep
    sending past ``requests`` until ``until(answers per version)`` holds or ``until_s`` pass
    (a serving worker follows a change on its next poll, which a short burst can outrun).
    Returns the answers per model version and the number of failed requests."""
    import httpx

    counter = itertools.count()
    versions: Counter[int] = Counter()
    failed = 0
    lock = threading.Lock()
    half = threading.Event()
    deadline = time.monotonic() + until_s

    def more(i: int) -> bool:
        if i < requests:
            return True
        if until is None or time.monotonic() > deadline:
            return False
        with lock:
            return not until(versions)

    def run() -> None:
        nonlocal failed
        with httpx.Client(timeout=30) as http:
            while more(i := next(counter)):
                if i == requests // 2:
                    half.set()
                try:
                    r = http.post(url, json={"instances": [instances[i % len(instances)]]})
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    if ok:
                        versions[int(r.headers["usina-model-version"])] += 1
                    else:
                        failed += 1

    senders = [threading.Thread(target=run) for _ in range(threads)]
    for t in senders:
        t.start()
    if halfway is not None:
        half.wait()
        halfway()
    for t in senders:
        t.join()
    return versions, failed


def wait_logged(client: Client, endpoint: str, answered: int, since_s: float = 3600.0) -> Any:
    """The endpoint's stats once ``answered`` requests are in its log (a server writes its log
    on its own schedule), or after 15 s."""
    stats = client.endpoints.stats(endpoint, since_s=since_s)
    deadline = time.monotonic() + 15
    while sum(s.requests for s in stats) < answered and time.monotonic() < deadline:
        time.sleep(0.5)
        stats = client.endpoints.stats(endpoint, since_s=since_s)
    return stats


def roll_back_under_traffic(
    client: Client,
    model: str,
    instances: list[dict[str, Any]],
    *,
    endpoint: str = "credit",
    alias: str = "champion",
    requests: int = 2000,
    threads: int = 4,
) -> TrafficReport:
    """Serve ``endpoint`` (following ``model@alias``), send ``requests`` Vertex AI predictions
    cycling through ``instances``, and roll ``alias`` back once half of them are answered; the
    traffic goes on past ``requests`` until the rolled-back version has answered (at most 30 s
    more), so the report always shows both versions.

    The endpoint and the alias are changed through ``client`` (its endpoint and registry
    stores). On a database, the serving app runs in this process; through a usina server, the
    traffic goes to the server's own inference routes, which follow the alias the same way.

    Raises:
        NotFound: ``model`` has no ``alias``, or no earlier version to roll back to.
    """
    store = client.endpoints
    try:
        store.get(endpoint)
    except NotFound:
        store.create(endpoint, f"models:/{model}@{alias}")
    changes: list[AliasChange] = []

    def roll_back() -> None:
        changes.append(client.registry.rollback(model, alias, "demo: roll back under traffic"))

    def followed(versions: Counter[int]) -> bool:
        return bool(changes) and versions[changes[0].to_version or 0] > 0

    with serving(client, endpoint) as url:
        versions, failed = send(url, instances, requests, threads, roll_back, followed)
    sent = sum(versions.values()) + failed
    stats = wait_logged(client, endpoint, sent - failed)
    return TrafficReport(
        requests=sent,
        failed=failed,
        answers_by_version=dict(sorted(versions.items())),
        rollback=changes[0],
        stats=stats,
    )
