"""Endpoint pages: the list, and one endpoint with its split and, per version, requests per
minute, p50/p95/p99 latency and error rate over time (from the request log, with DuckDB)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from usina.errors import NotFound
from usina.registry import ModelRef
from usina.server.deps import backends, endpoints, registry
from usina.server.ui import charts
from usina.server.ui.render import page

router = APIRouter(prefix="/ui", include_in_schema=False)
WINDOWS = {"15m": 900, "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400}
BUCKETS = 60


@router.get("/endpoints")
def endpoint_list(request: Request) -> Response:
    """Endpoints and what they serve."""
    found = endpoints(request, "anonymous").list(limit=200)
    return page(request, "endpoints.html", "Endpoints", {"endpoints": found}, section="endpoints")


@router.get("/endpoints/{name}")
def endpoint(
    request: Request,
    name: str = Path(max_length=64),
    window: str = Query("1h", pattern="^(15m|1h|6h|24h|7d)$"),
) -> Response:
    """One endpoint: its split, and its traffic and latency over the window."""
    from usina.serving.logquery import endpoint_series

    store = endpoints(request, "anonymous")
    found = store.get(name)
    since = WINDOWS[window]
    series = endpoint_series(backends(request).artifacts, name, since, BUCKETS)
    stats, width = series.stats, series.width
    by_version: dict[int | None, list[Any]] = defaultdict(list)
    for p in series.points:
        by_version[p.version].append(p)
    per_minute = 60.0 / width
    traffic = []
    latency = []
    errors = []
    for version, rows in sorted(by_version.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        label = f"v{version}" if version is not None else "no version"
        xs = [r.start + width for r in rows]
        traffic.append((label, xs, [r.requests * per_minute for r in rows]))
        errors.append((label, xs, [r.errors / r.requests if r.requests else None for r in rows]))
        latency.append(
            (
                label,
                charts.latency(
                    f"Latency of {label} (ms)",
                    xs,
                    [r.p50_ms for r in rows],
                    [r.p95_ms for r in rows],
                    [r.p99_ms for r in rows],
                ),
            )
        )
    serving = None
    if found.alias:
        try:
            serving = registry(request, "anonymous").resolve(
                ModelRef(found.model, alias=found.alias)
            )
        except NotFound:
            serving = None  # the alias was deleted: the endpoint answers 503 until it is back
    context = {
        "serving": serving,
        "endpoint": found,
        "stats": stats,
        "window": window,
        "windows": list(WINDOWS),
        "bucket_s": width,
        "traffic_chart": charts.lines("traffic", "Requests per minute, by version", traffic),
        "error_chart": charts.lines("errors", "Error rate, by version", errors, percent=True),
        "latency_charts": latency,
    }
    return page(request, "endpoint.html", f"Endpoint {name}", context, section="endpoints")
