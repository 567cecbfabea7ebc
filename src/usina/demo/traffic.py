"""The serving chapter of the demo: deploy the champion, send traffic, roll back under it.

:func:`roll_back_under_traffic` is what ``usina demo`` calls: it makes sure an endpoint follows
``models:/MODEL@ALIAS``, serves it on a loopback port, sends requests from a few threads, rolls
the alias back halfway through, stops the server gracefully (so the request log is complete)
and returns what happened, with the endpoint's latency and error figures.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from usina.client import Client
from usina.errors import InvalidInput, NotFound
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
    cycling through ``instances``, and roll ``alias`` back once half of them are answered.

    The endpoint and the alias are changed through ``client`` (its endpoint and registry
    stores); the serving app runs in this process on the client's database, so ``client`` works
    on the database directly.

    Raises:
        NotFound: ``model`` has no ``alias``, or no earlier version to roll back to.
        InvalidInput: ``client`` is a client of a usina server.
    """
    import httpx
    import uvicorn

    if client.db is None:
        raise InvalidInput(
            "the demo serves its endpoint in this process, on the metadata database; run it "
            "without USINA_URL (or --url)",
            field="url",
        )
    store = client.endpoints
    try:
        store.get(endpoint)
    except NotFound:
        store.create(endpoint, f"models:/{model}@{alias}")
    config = ServingConfig(poll_interval=0.2, log_flush_interval=0.5)
    app = create_app(client.db, client.artifacts, config)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    runner = threading.Thread(target=server.run, name="usina-demo-serving", daemon=True)
    runner.start()
    while not server.started:
        if not runner.is_alive():
            raise RuntimeError("the demo server did not start")
        time.sleep(0.02)

    url = f"http://127.0.0.1:{port}/v1/endpoints/{endpoint}:predict"
    counter = itertools.count()
    versions: Counter[int] = Counter()
    failed = 0
    lock = threading.Lock()
    halfway = threading.Event()

    def send() -> None:
        nonlocal failed
        with httpx.Client(timeout=30) as http:
            while (i := next(counter)) < requests:
                if i == requests // 2:
                    halfway.set()
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

    senders = [threading.Thread(target=send) for _ in range(threads)]
    for t in senders:
        t.start()
    halfway.wait()
    change = client.registry.rollback(model, alias, "demo: roll back under traffic")
    for t in senders:
        t.join()
    server.should_exit = True
    runner.join()
    return TrafficReport(
        requests=requests,
        failed=failed,
        answers_by_version=dict(sorted(versions.items())),
        rollback=change,
        stats=store.stats(endpoint, since_s=3600.0),
    )
