"""The inference ASGI app: every endpoint, three protocols, metrics and the request log.

``create_app(db_url, artifacts)`` returns a Starlette app that runs alone (``usina serve``) or
mounted in a larger one; a host that mounts it calls :meth:`InferenceService.startup` and
:meth:`InferenceService.shutdown` from its own lifespan (mounted apps' lifespans do not run).

The predict path reads the body, parses it with orjson, picks a version from the endpoint's
current :class:`~usina.serving.runtime.Route`, checks the input with that version's compiled
check, predicts on the event loop, and answers; metrics and the log row are appended to
in-memory structures, and a shadow version runs after the response is sent.

Routes:
    POST /v1/endpoints/{name}:predict                   Vertex AI
    POST /v2/models/{name}[/versions/{v}]/infer         Open Inference Protocol (KServe V2)
    GET  /v2, /v2/health/{live,ready}                   server metadata and health
    GET  /v2/models/{name}[/versions/{v}][/ready]       model metadata and readiness
    POST /v1/endpoints/{name}/invocations, /invocations MLflow scoring
    GET  /v1/endpoints[/{name}]                         what each endpoint serves, load failures
    GET  /metrics, /ping, /health                       Prometheus; liveness
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HttpRoute

from usina.artifacts import ArtifactStore, open_artifact_store
from usina.errors import InvalidInput, NotFound, PayloadTooLarge, UsinaError
from usina.serving import mlflow_scoring, openinference, vertex
from usina.serving.batching import MicroBatcher
from usina.serving.endpoints import SqlEndpointStore
from usina.serving.inputs import InputCheck, ModelInput, dumps, log_inputs
from usina.serving.metrics import ServingMetrics
from usina.serving.requestlog import LogRow, RequestLog
from usina.serving.runtime import LoadedVersion, Route, Runtime
from usina.store import Database

if TYPE_CHECKING:
    from usina.settings import Settings

log = logging.getLogger("usina.serving")
JSON = "application/json"


@dataclass(frozen=True)
class ServingConfig:
    """How the inference app behaves; the edges build it from ``Settings``."""

    poll_interval: float = 0.5
    max_body_bytes: int = 8 * 1024 * 1024
    log_flush_interval: float = 1.0
    log_max_rows: int = 10_000
    trust_pickles: bool = False
    default_endpoint: str | None = None
    retry_failed_after: float = 60.0
    fast_predict: bool = True
    log_out_of_process: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> ServingConfig:
        """How ``usina serve`` and ``usina server`` serve under ``settings``."""
        return cls(
            poll_interval=settings.serve_poll_interval,
            max_body_bytes=settings.serve_max_body_bytes,
            log_flush_interval=settings.request_log_flush_ms / 1000.0,
            log_max_rows=settings.request_log_max_rows,
            trust_pickles=settings.serve_trust_pickles,
            default_endpoint=settings.serve_endpoint,
            fast_predict=settings.serve_fast_predict,
            log_out_of_process=settings.request_log_process,
        )


class Unavailable(UsinaError):
    """The endpoint exists but no version of it could be loaded."""


# Most specific first: PayloadTooLarge is an InvalidInput.
_STATUS: list[tuple[type[Exception], int]] = [
    (PayloadTooLarge, 413),
    (InvalidInput, 400),
    (NotFound, 404),
    (Unavailable, 503),
]


class InferenceService:
    """The state behind the app: runtime, metrics, request log, batchers, poller."""

    def __init__(self, db: Database, artifacts: ArtifactStore, config: ServingConfig) -> None:
        self.config = config
        self.metrics = ServingMetrics()
        self.runtime = Runtime(
            SqlEndpointStore(db, "serving", artifacts=artifacts),
            artifacts,
            config.trust_pickles,
            self.metrics.load_failed,
            config.retry_failed_after,
            config.fast_predict,
        )
        self.log = RequestLog(
            artifacts,
            flush_interval=config.log_flush_interval,
            max_rows=config.log_max_rows,
            out_of_process=config.log_out_of_process,
        )
        self._batchers: dict[tuple[str, int, int], MicroBatcher] = {}
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def startup(self) -> None:
        """Load every endpoint's versions, then start polling and the log writer."""
        try:
            await asyncio.to_thread(self.runtime.refresh)
            # Everything loaded so far (modules, models) lives as long as the server: move it
            # out of the collector's sight so full collections stay short on the request path.
            gc.freeze()
        except Exception:
            log.exception("loading endpoints failed; retrying every %ss", self.config.poll_interval)
        self.log.start()
        self._poller = threading.Thread(target=self._poll, name="usina-serving-poll", daemon=True)
        self._poller.start()

    async def shutdown(self) -> None:
        """Stop polling and flush the request log (a graceful stop loses no logged request)."""
        self._stop.set()
        if self._poller is not None:
            await asyncio.to_thread(self._poller.join)
        await asyncio.to_thread(self.log.close)

    def _poll(self) -> None:
        while not self._stop.wait(self.config.poll_interval):
            try:
                self.runtime.refresh()
            except Exception:
                log.exception("polling endpoints failed; serving the last known routes")

    # -- the predict path -------------------------------------------------------------------

    async def vertex_predict(self, request: Request) -> Response:
        return await self._serve(request, request.path_params["name"], "vertex", None)

    async def v2_infer(self, request: Request) -> Response:
        pinned = request.path_params.get("version")
        return await self._serve(request, request.path_params["name"], "v2", pinned)

    async def invocations(self, request: Request) -> Response:
        return await self._serve(request, request.path_params.get("name"), "mlflow", None)

    async def _serve(
        self, request: Request, name: str | None, protocol: str, pinned: str | None
    ) -> Response:
        start = time.perf_counter()
        # 128 random bits from the process's generator: uuid4 reads the OS entropy pool on
        # every call, which cost ~20 us a request on a busy host. Ids need to be unique, not secret.
        request_id = request.headers.get("x-request-id") or f"{random.getrandbits(128):032x}"
        version: LoadedVersion | None = None
        try:
            if name is None:
                name = self._default_endpoint()
            route = self._route(name)
            body = await self._body(request)
            infer = None
            if protocol == "vertex":
                build = vertex.parse(body)
            elif protocol == "v2":
                infer = openinference.parse(body, request.headers.get(openinference.HEADER_LENGTH))
                build = infer.builder()
                request_id = infer.id or request_id
            else:
                build = mlflow_scoring.parse(body, request.headers.get("content-type", ""))
            version = self._pick(route, pinned)
            batch = build(version.check)
            outputs = await self._predict(route, version, batch)
            number = version.version
            headers = {"usina-model-version": str(number), "x-request-id": request_id}
            media = JSON
            if protocol == "vertex":
                content = vertex.encode(name, route.endpoint.model, number, outputs)
            elif infer is not None:
                content, extra = openinference.encode(
                    name, number, infer.id, outputs, infer.binary_output
                )
                if extra:
                    headers.update(extra)
                    media = "application/octet-stream"
            else:
                content = mlflow_scoring.encode(outputs)
            elapsed = time.perf_counter() - start
            self.metrics.observe(name, str(number), protocol, 200, elapsed)
            rate = route.endpoint.sample_rate
            if rate >= 1.0 or (rate > 0.0 and random.random() < rate):
                self.log.append(
                    LogRow(
                        request_id,
                        time.time(),
                        name,
                        route.endpoint.model,
                        number,
                        False,
                        protocol,
                        200,
                        elapsed * 1000.0,
                        log_inputs(version.check, batch.data),
                        dumps(outputs),
                        None,
                    )
                )
            background = None
            if route.shadow is not None:
                background = BackgroundTask(self._shadow, route, build, request_id, protocol)
            return Response(content, 200, headers, media, background)
            # Every failure becomes a response, never a dropped connection.
        except Exception as exc:  # noqa: BLE001
            return self._failure(exc, name, protocol, version, start, request_id)

    def _route(self, name: str) -> Route:
        route = self.runtime.routes.get(name)
        if route is None:
            raise NotFound(f"no endpoint {name!r} is served here", field="endpoint")
        if not route.versions:
            failures = "; ".join(
                f"v{v}: {m}"
                for (model, v), m in self.runtime.failures.items()
                if model == route.endpoint.model
            )
            raise Unavailable(
                f"endpoint {name!r} has no loaded version" + (f" ({failures})" if failures else "")
            )
        return route

    @staticmethod
    def _pick(route: Route, pinned: str | None) -> LoadedVersion:
        if pinned is None:
            return route.pick()
        found = route.version(int(pinned)) if pinned.isdigit() else None
        if found is None:
            serving = ", ".join(str(v.version) for v in route.versions)
            raise NotFound(
                f"version {pinned!r} is not serving on {route.endpoint.name!r}; serving: {serving}",
                field="version",
            )
        return found

    async def _predict(self, route: Route, version: LoadedVersion, batch: ModelInput) -> Any:
        endpoint = route.endpoint
        if endpoint.max_batch_size <= 0:
            return version.predict(batch)
        key = (endpoint.name, version.version, endpoint.generation)
        batcher = self._batchers.get(key)
        if batcher is None or batcher.version is not version:
            batcher = MicroBatcher(version, endpoint.max_batch_size, endpoint.max_latency_ms)
            self._batchers = {k: b for k, b in self._batchers.items() if k[0] != endpoint.name}
            self._batchers[key] = batcher
        return await batcher.predict(batch)

    async def _body(self, request: Request) -> bytes:
        limit = self.config.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit():
            if int(length) > limit:
                raise PayloadTooLarge(f"the body is {length} bytes; the limit is {limit}")
            return await request.body()
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _shadow(
        self,
        route: Route,
        build: Callable[[InputCheck], ModelInput],
        request_id: str,
        protocol: str,
    ) -> None:
        shadow = route.shadow
        if shadow is None:
            return
        start = time.perf_counter()
        outputs, status, error, data = None, 200, None, None
        try:
            batch = build(shadow.check)
            data = log_inputs(shadow.check, batch.data)
            outputs = shadow.predict(batch)
        except Exception as exc:  # noqa: BLE001 - recorded, never returned
            status, error = _status(exc), str(exc)
        elapsed = time.perf_counter() - start
        self.log.append(
            LogRow(
                request_id,
                time.time(),
                route.endpoint.name,
                route.endpoint.model,
                shadow.version,
                True,
                protocol,
                status,
                elapsed * 1000.0,
                data,
                None if outputs is None else dumps(outputs),
                error,
            )
        )

    def _failure(
        self,
        exc: Exception,
        name: str | None,
        protocol: str,
        version: LoadedVersion | None,
        start: float,
        request_id: str,
    ) -> Response:
        status = _status(exc)
        if status == 500:
            log.exception("prediction on endpoint %r failed", name)
            kind = type(exc).__name__
            message = f"internal error ({kind}); see the server log for request {request_id}"
        else:
            message = str(exc)
        elapsed = time.perf_counter() - start
        number = version.version if version is not None else None
        route = self.runtime.routes.get(name) if name is not None else None
        # Names from the URL label metrics only when they are endpoints: no unbounded labels.
        label = route.endpoint.name if route is not None else ""
        self.metrics.observe(label, str(number or ""), protocol, status, elapsed)
        if route is not None and (
            route.endpoint.sample_rate >= 1.0 or random.random() < route.endpoint.sample_rate
        ):
            self.log.append(
                LogRow(
                    request_id,
                    time.time(),
                    route.endpoint.name,
                    route.endpoint.model,
                    number,
                    False,
                    protocol,
                    status,
                    elapsed * 1000.0,
                    None,
                    None,
                    message,
                )
            )
        body: dict[str, Any] = {"error": message}
        if isinstance(exc, UsinaError) and exc.field:
            body["field"] = exc.field
        return Response(orjson.dumps(body), status, {"x-request-id": request_id}, JSON)

    def _default_endpoint(self) -> str:
        if self.config.default_endpoint:
            return self.config.default_endpoint
        names = list(self.runtime.routes)
        if len(names) == 1:
            return names[0]
        raise InvalidInput(
            "/invocations needs one endpoint, and this server serves "
            f"{len(names)}; use /v1/endpoints/NAME/invocations or start it with --endpoint",
            field="endpoint",
        )

    # -- metadata, health, metrics ----------------------------------------------------------

    async def endpoints(self, request: Request) -> Response:
        return _json([self._describe(r) for r in self.runtime.routes.values()])

    async def endpoint(self, request: Request) -> Response:
        route = self.runtime.routes.get(request.path_params["name"])
        if route is None:
            return _json(
                {"error": f"no endpoint {request.path_params['name']!r} is served here"}, 404
            )
        return _json(self._describe(route))

    def _describe(self, route: Route) -> dict[str, Any]:
        e = route.endpoint
        versions = dict(
            zip((v.version for v in route.versions), _shares(route.cumulative), strict=True)
        )
        return {
            "name": e.name,
            "model": e.model,
            "alias": e.alias,
            "serving": [{"version": v, "traffic": share} for v, share in versions.items()],
            "shadow": route.shadow.version if route.shadow else None,
            "failures": [
                {"version": v, "error": m}
                for (model, v), m in self.runtime.failures.items()
                if model == e.model
            ],
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
            route = self._route(request.path_params["name"])
            version = self._pick(route, request.path_params.get("version"))
        except Exception as exc:  # noqa: BLE001 - mapped by _status
            return _json({"error": str(exc)}, _status(exc))
        check = version.check
        return _json(
            {
                "name": route.endpoint.name,
                "versions": [str(v.version) for v in route.versions],
                "platform": f"usina/{version.info.format}",
                "inputs": [
                    {"name": c.name, "datatype": _v2_type(c.dtype), "shape": [-1]}
                    for c in check.signature.inputs
                ],
                "outputs": [
                    {
                        "name": openinference.OUTPUT_NAME,
                        "datatype": openinference.datatype_of_kind(version.output_kind),
                        "shape": [-1],
                    }
                ],
            }
        )

    async def model_ready(self, request: Request) -> Response:
        try:
            route = self._route(request.path_params["name"])
            self._pick(route, request.path_params.get("version"))
        except Exception as exc:  # noqa: BLE001 - mapped by _status
            return _json({"error": str(exc)}, _status(exc))
        return _json({"name": route.endpoint.name, "ready": True})

    async def prometheus(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), 200, media_type="text/plain; version=0.0.4")


def _status(exc: BaseException) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def _json(value: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status, media_type=JSON)


def _shares(cumulative: tuple[float, ...]) -> list[float]:
    total = cumulative[-1] if cumulative else 1.0
    previous, shares = 0.0, []
    for c in cumulative:
        shares.append(round(100.0 * (c - previous) / total, 2))
        previous = c
    return shares


def _v2_type(dtype: str) -> str:
    return {
        "double": "FP64",
        "float": "FP32",
        "int64": "INT64",
        "int32": "INT32",
        "bool": "BOOL",
        "string": "BYTES",
    }.get(dtype, "BYTES")


def inference_routes(service: InferenceService, *, with_ops: bool = True) -> list[HttpRoute]:
    """The routes answered by ``service``: every protocol, and with ``with_ops`` also
    ``/metrics``, ``/ping`` and ``/health`` (a host with its own leaves them out)."""
    s = service
    routes = [
        HttpRoute("/v1/endpoints/{name}:predict", s.vertex_predict, methods=["POST"]),
        HttpRoute("/v2/models/{name}/infer", s.v2_infer, methods=["POST"]),
        HttpRoute("/v2/models/{name}/versions/{version}/infer", s.v2_infer, methods=["POST"]),
        HttpRoute("/invocations", s.invocations, methods=["POST"]),
        HttpRoute("/v1/endpoints/{name}/invocations", s.invocations, methods=["POST"]),
        HttpRoute("/v1/endpoints", s.endpoints, methods=["GET"]),
        HttpRoute("/v1/endpoints/{name}", s.endpoint, methods=["GET"]),
        HttpRoute("/v2", s.server_metadata, methods=["GET"]),
        HttpRoute("/v2/health/live", s.live, methods=["GET"]),
        HttpRoute("/v2/health/ready", s.ready, methods=["GET"]),
        HttpRoute("/v2/models/{name}", s.model_metadata, methods=["GET"]),
        HttpRoute("/v2/models/{name}/versions/{version}", s.model_metadata, methods=["GET"]),
        HttpRoute("/v2/models/{name}/ready", s.model_ready, methods=["GET"]),
        HttpRoute("/v2/models/{name}/versions/{version}/ready", s.model_ready, methods=["GET"]),
    ]
    if with_ops:
        routes += [
            HttpRoute("/metrics", s.prometheus, methods=["GET"]),
            HttpRoute("/ping", s.live, methods=["GET"]),
            HttpRoute("/health", s.live, methods=["GET"]),
        ]
    return routes


def create_app(
    db: Database | str, artifacts: ArtifactStore | str, config: ServingConfig | None = None
) -> Starlette:
    """The inference app for the endpoints in ``db``, models read from ``artifacts``.

    The service is available as ``app.state.service`` (a host mounting the app calls its
    ``startup`` and ``shutdown``).
    """
    database = Database(db) if isinstance(db, str) else db
    store = open_artifact_store(artifacts) if isinstance(artifacts, str) else artifacts
    service = InferenceService(database, store, config or ServingConfig())
    routes = inference_routes(service)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.startup()
        try:
            yield
        finally:
            await service.shutdown()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.service = service
    return app
