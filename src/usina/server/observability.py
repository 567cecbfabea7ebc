"""``/healthz``, ``/readyz`` and Prometheus ``/metrics``, with the middleware that counts requests.

``/metrics`` also carries the serving metrics (``usina_requests_total`` and friends) when the
server answers the inference routes.

With several workers, ``usina server`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder so
``/metrics`` sums every worker's counters, whichever worker answers the scrape.
"""

from __future__ import annotations

import os
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from usina.errors import UsinaError
from usina.server.errors import error_response

router = APIRouter(include_in_schema=False)

REQUESTS = Counter(
    "usina_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "usina_http_request_duration_seconds", "Time to answer an HTTP request.", ["method", "route"]
)


class RequestMetrics:
    """Count requests and time them, labelled by route template (not by raw path)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def record(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUESTS.labels(scope["method"], template, str(status)).inc()
            LATENCY.labels(scope["method"], template).observe(time.perf_counter() - start)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Response:
    """The metadata database answers and its schema is current."""
    try:
        db = request.app.state.backends.db
        with db.read() as conn:
            conn.exec_driver_sql("SELECT 1")
    except UsinaError as exc:
        return error_response(503, exc.code, exc.message)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return error_response(
            503, "store_unavailable", f"the metadata database is not ready: {exc}"
        )
    return Response('{"status":"ready"}', media_type="application/json")


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus metrics (summed over workers when there are several), serving's included."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        # Every metric of every worker is a file in that folder, the serving metrics too
        # (whichever registry they belong to): one collector reads them all.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    body = generate_latest()
    # The serving metrics live in their service's own registry (so several services in one
    # process never collide); their names differ from the server's, so the two texts concatenate.
    inference = getattr(request.app.state, "inference", None)
    if inference is not None:
        body += generate_latest(inference.metrics.registry)
    # The audit recorder's counters (records written, records lost by reason).
    recorder = getattr(request.app.state, "recorder", None)
    if recorder is not None:
        body += generate_latest(recorder.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
