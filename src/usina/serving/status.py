"""What a serving process says about itself: what each endpoint serves, the Open Inference
Protocol's metadata and health routes, and Prometheus metrics.

None of these touch a model; they read the :class:`~usina.serving.runtime.Runtime`'s routes.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HttpRoute

from usina.errors import NotFound, UsinaError, http_status
from usina.serving import openinference
from usina.serving.codec import JSON
from usina.serving.metrics import ServingMetrics
from usina.serving.runtime import Route, Runtime


class StatusRoutes:
    """The read-only routes over a runtime and its metrics."""

    def __init__(self, runtime: Runtime, metrics: ServingMetrics) -> None:
        self.runtime = runtime
        self.metrics = metrics

    def routes(self, *, with_ops: bool = True) -> list[HttpRoute]:
        """Every status route; with ``with_ops`` also ``/metrics``, ``/ping`` and ``/health``."""
        routes = [
            HttpRoute("/v1/endpoints", self.endpoints, methods=["GET"]),
            HttpRoute("/v1/endpoints/{name}", self.endpoint, methods=["GET"]),
            HttpRoute("/v2", self.server_metadata, methods=["GET"]),
            HttpRoute("/v2/health/live", self.live, methods=["GET"]),
            HttpRoute("/v2/health/ready", self.ready, methods=["GET"]),
            HttpRoute("/v2/models/{name}", self.model_metadata, methods=["GET"]),
            HttpRoute("/v2/models/{name}/versions/{version}", self.model_metadata, methods=["GET"]),
            HttpRoute("/v2/models/{name}/ready", self.model_ready, methods=["GET"]),
            HttpRoute(
                "/v2/models/{name}/versions/{version}/ready", self.model_ready, methods=["GET"]
            ),
        ]
        if with_ops:
            routes += [
                HttpRoute("/metrics", self.prometheus, methods=["GET"]),
                HttpRoute("/ping", self.live, methods=["GET"]),
                HttpRoute("/health", self.live, methods=["GET"]),
            ]
        return routes

    async def endpoints(self, request: Request) -> Response:
        return _json([self.describe(r) for r in self.runtime.routes.values()])

    async def endpoint(self, request: Request) -> Response:
        name = request.path_params["name"]
        route = self.runtime.routes.get(name)
        if route is None:
            # usina's own route: the REST API's error shape.
            message = f"no endpoint {name!r} is served here"
            error = {"code": NotFound.code, "message": message, "field": "endpoint"}
            return _json({"error": error}, 404)
        return _json(self.describe(route))

    def describe(self, route: Route) -> dict[str, Any]:
        """What ``route``'s endpoint serves: versions and traffic, shadow, load failures."""
        e = route.endpoint
        shares = _shares(route.cumulative)
        return {
            "name": e.name,
            "model": e.model,
            "alias": e.alias,
            "serving": [
                {"version": v.version, "traffic": share}
                for v, share in zip(route.versions, shares, strict=True)
            ],
            "shadow": route.shadow.version if route.shadow else None,
            "failures": [{"version": v, "error": m} for v, m in self.runtime.failures_of(route)],
            "generation": e.generation,
        }

    async def server_metadata(self, request: Request) -> Response:
        from importlib.metadata import version

        # Read from the installed package: importing ``usina`` itself would pull in the edges.
        body = {"name": "usina", "version": version("usina"), "extensions": ["binary_tensor_data"]}
        return _json(body)

    async def live(self, request: Request) -> Response:
        return _json({"live": True})

    async def ready(self, request: Request) -> Response:
        ready = self.runtime.ready
        return _json({"ready": ready}, 200 if ready else 503)

    async def model_metadata(self, request: Request) -> Response:
        try:
            route = self.runtime.serving(request.path_params["name"])
            version = route.choose(request.path_params.get("version"))
        except Exception as exc:  # noqa: BLE001 - every failure is an answer
            return _v2_error(exc)
        body = openinference.model_metadata(
            route.endpoint.name,
            [v.version for v in route.versions],
            version.info.format,
            version.check,
            version.output_kind,
        )
        return _json(body)

    async def model_ready(self, request: Request) -> Response:
        try:
            route = self.runtime.serving(request.path_params["name"])
            route.choose(request.path_params.get("version"))
        except Exception as exc:  # noqa: BLE001 - every failure is an answer
            return _v2_error(exc)
        return _json({"name": route.endpoint.name, "ready": True})

    async def prometheus(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), 200, media_type="text/plain; version=0.0.4")


def _json(value: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status, media_type=JSON)


def _v2_error(exc: Exception) -> Response:
    status = http_status(exc)
    field = exc.field if isinstance(exc, UsinaError) else None
    return Response(openinference.CODEC.error(status, str(exc), field), status, media_type=JSON)


def _shares(cumulative: tuple[float, ...]) -> list[float]:
    total = cumulative[-1] if cumulative else 1.0
    previous, shares = 0.0, []
    for c in cumulative:
        shares.append(round(100.0 * (c - previous) / total, 2))
        previous = c
    return shares
