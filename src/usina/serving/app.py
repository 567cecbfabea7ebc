"""The inference ASGI app: every endpoint, three protocols, metrics and the request log.

``create_app(db_url, artifacts)`` returns a Starlette app that runs alone (``usina serve``) or
mounted in a larger one; a host that mounts it calls :meth:`InferenceService.startup` and
:meth:`InferenceService.shutdown` from its own lifespan (mounted apps' lifespans do not run).

The predict path reads the body, parses it with orjson, picks a version from the endpoint's
current :class:`~usina.serving.runtime.Route`, checks the input with that version's compiled
check, predicts on the event loop, and answers; metrics and the log row are appended to
in-memory structures, and a shadow version runs after the response is sent.

Every predict route is answered by one handler and the :class:`~usina.serving.codec.Codec` of
its protocol, listed once in ``PREDICT_ROUTES``; errors get their HTTP status from
:func:`usina.errors.http_status` (the REST API's map) and their body from the codec.

Routes:
    POST /v1/projects/{p}/locations/{l}/endpoints/{name}:predict, :rawPredict   Vertex AI
    POST /v1/endpoints/{name}:predict                   Vertex AI, short form
    POST /v2/models/{name}[/versions/{v}]/infer         Open Inference Protocol (KServe V2)
    GET  /v2, /v2/health/{live,ready}                   server metadata and health
    GET  /v2/models/{name}[/versions/{v}][/ready]       model metadata and readiness
    POST /v1/endpoints/{name}/invocations, /invocations MLflow scoring
    GET  /v1/endpoints[/{name}]                         what each endpoint serves, load failures
    GET  /metrics, /ping, /health                       Prometheus; liveness

With ``ServingConfig.auth`` (``USINA_AUTH=on``) every route but health needs a bearer token:
a predict route checks ``usina.endpoints.predict`` on ``endpoints/NAME`` itself (the cached
token check and a dict lookup: no database round trip), the status routes go through the same
``Gate``; refusals (and reads, with ``audit_data_reads``) are written to the audit log, by the
predict routes themselves and by an ``AuditTrail`` around each other route.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.routing import Route as HttpRoute
from starlette.types import Receive, Scope, Send

from usina.artifacts import ArtifactStore, open_artifact_store
from usina.audit import AuditRecorder, SqlAuditStore
from usina.audit.trail import Auditor, AuditTrail
from usina.errors import InvalidInput, PayloadTooLarge, UsinaError, http_status
from usina.identity import TokenVerifier
from usina.identity.gate import VERDICT, Gate, GatedApp, Verdict
from usina.serving import mlflow_scoring, openinference, vertex
from usina.serving.batching import MicroBatcher
from usina.serving.codec import JSON, Codec
from usina.serving.endpoints import Endpoint, SqlEndpointStore
from usina.serving.inputs import ModelInput, dumps, log_inputs
from usina.serving.jsonbytes import json_inputs
from usina.serving.logpolicy import LogPolicies, load_log_policies, protect_row
from usina.serving.metrics import ServingMetrics
from usina.serving.requestlog import RequestLog
from usina.serving.runtime import LoadedVersion, Route, Runtime
from usina.serving.status import StatusRoutes
from usina.store import Database

if TYPE_CHECKING:
    from usina.privacy import PiiKey, Protector
    from usina.settings import Settings

log = logging.getLogger("usina.serving")

# Every predict route and the codec that reads and answers it: the one list of protocol paths.
# The router tries routes in order, so the paths clients use most come first.
PREDICT_ROUTES: tuple[tuple[str, Codec[Any]], ...] = (
    ("/v1/endpoints/{name}:predict", vertex.CODEC),
    ("/v2/models/{name}/infer", openinference.CODEC),
    ("/invocations", mlflow_scoring.CODEC),
    ("/v1/projects/{project}/locations/{location}/endpoints/{name}:predict", vertex.CODEC),
    ("/v2/models/{name}/versions/{version}/infer", openinference.CODEC),
    ("/v1/endpoints/{name}/invocations", mlflow_scoring.CODEC),
    ("/v1/projects/{project}/locations/{location}/endpoints/{name}:rawPredict", vertex.CODEC),
)

PICKLE_RISK = (
    "USINA_SERVE_TRUST_PICKLES is on: versions stored as pickles will be loaded, and loading "
    "a pickle runs whatever code it holds; anyone who can register a model or write to the "
    "artifact store can run code in this server"
)


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
    log_max_queued: int = 50_000
    log_max_buffered: int = 100_000
    log_retry_min: float = 0.5
    log_retry_max: float = 30.0
    log_file_interval: float = 5.0
    log_writer_nice: int = 5
    auth: bool = False
    audit_data_reads: bool = False
    metrics_public: bool = False
    # Endpoint name ("*" for all) -> the compiled PII policy of its request log rows, from
    # USINA_REQUEST_LOG_PII_POLICY; endpoints' own policies come with their records.
    log_policies: Mapping[str, Protector] = field(default_factory=dict)
    # The PII key the keyed operators of endpoints' own policies use (None: none set).
    pii_key: PiiKey | None = None

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
            log_max_queued=settings.request_log_max_queued,
            log_max_buffered=settings.request_log_max_buffered,
            log_retry_min=settings.request_log_retry_ms / 1000.0,
            log_retry_max=settings.request_log_retry_max_ms / 1000.0,
            log_file_interval=settings.request_log_file_ms / 1000.0,
            log_writer_nice=settings.request_log_writer_nice,
            auth=settings.auth == "on",
            audit_data_reads=settings.audit_data_reads == "on",
            metrics_public=settings.metrics_public,
            log_policies=_log_policies(settings),
            pii_key=_pii_key(settings),
        )


class InferenceService:
    """The state behind the app: runtime, metrics, request log, batchers, poller.

    With a ``gate`` that requires tokens, each predict request is checked before its body is
    read; without one, the host checks access (or nothing needs checking).
    """

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactStore,
        config: ServingConfig,
        gate: Gate | None = None,
    ) -> None:
        self.config = config
        self.gate = gate if gate is not None and gate.auth else None
        # Set by ``create_app``: the predict routes of ``usina serve`` record their audited
        # requests themselves (no wrapper per request). A host with an audit middleware
        # (``usina server``) leaves it unset.
        self.auditor: Auditor | None = None
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
            max_queued=config.log_max_queued,
            max_buffered=config.log_max_buffered,
            retry_min=config.log_retry_min,
            retry_max=config.log_retry_max,
            file_interval=config.log_file_interval,
            out_of_process=config.log_out_of_process,
            writer_nice=config.log_writer_nice,
            metrics=self.metrics,
        )
        self._log_policies = LogPolicies(config.log_policies, config.pii_key)
        self._batchers: dict[tuple[str, int, int], MicroBatcher] = {}
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def startup(self) -> None:
        """Load every endpoint's versions, then start polling and the log writer."""
        if self.config.trust_pickles:
            log.warning(PICKLE_RISK)
        try:
            await asyncio.to_thread(self.runtime.refresh)
            # Everything loaded so far (modules, models) lives as long as the server: move it
            # out of the collector's sight so full collections stay short on the request path.
            gc.freeze()
        except Exception:
            log.exception("loading endpoints failed; retrying every %ss", self.config.poll_interval)
        # Requests append to the log on this loop's thread alone: without a lock.
        self.log.start(asyncio.get_running_loop())
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
            # Other workers' scrapes read this worker's metrics from its files: keep them
            # at most one poll interval behind.
            self.metrics.flush()
            try:
                self.runtime.refresh()
                self._log_policies.keep(self.runtime.routes)
            except Exception:
                log.exception("polling endpoints failed; serving the last known routes")
        self.metrics.flush()

    # -- the predict path -------------------------------------------------------------------

    def predict_handler(self, codec: Codec[Any], path: str = "") -> PredictEndpoint:
        """The ASGI endpoint of the predict route ``path`` whose requests ``codec`` reads and
        answers."""
        return PredictEndpoint(self, codec, path)

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, codec: Codec[Any], path: str = ""
    ) -> None:
        """Answer one predict request, straight on ASGI: every failure becomes the codec's
        error answer, never a dropped connection."""
        start = time.perf_counter()
        request_id, length, authorization = None, None, None
        for key, value in scope["headers"]:
            if key == b"content-length":
                length = value
            elif key == b"x-request-id":
                request_id = value.decode("latin-1")
            elif key == b"authorization":
                authorization = value.decode("latin-1")
        if request_id is None:
            # 128 random bits from the process's generator: uuid4 reads the OS entropy pool on
            # every call, ~20 us a request on a busy host. Ids need to be unique, not secret.
            # As 32 hex digits by way of bytes: half the time of formatting the int.
            request_id = random.getrandbits(128).to_bytes(16, "big").hex()
        params = scope.get("path_params") or {}
        gate = self.gate
        verdict: Verdict | None = None
        if gate is not None:
            verdict = gate.check("POST", path, params, authorization)
            scope[VERDICT] = verdict
            if verdict.status:
                content = codec.error(verdict.status, verdict.message, None)
                await _answer(send, verdict.status, content, JSON, request_id, None, None)
                if self.auditor is not None:
                    self.auditor.note(verdict, verdict.status, request_id, scope)
                return
        name: str | None = params.get("name")
        version: LoadedVersion | None = None
        try:
            if name is None:
                name = self._default_endpoint()
            route = self.runtime.serving(name)
            body = await self._body(receive, length)
            if body is None:
                return  # the client went away before sending its body: nobody to answer
            parsed = codec.parse(body, Headers(raw=scope["headers"]))
            request_id = codec.request_id(parsed) or request_id
            version = route.choose(params.get("version"))
            batch = codec.build(parsed, version.check)
            outputs = await self._predict(route, version, batch)
            endpoint = route.endpoint
            number = version.version
            rate = endpoint.sample_rate  # whether this request goes to the log
            sampled = rate >= 1.0 or (rate > 0.0 and random.random() < rate)
            outputs_json = dumps(outputs) if sampled else None  # for the answer and the log
            content, media, extra = codec.encode(
                parsed, name, endpoint.model, number, outputs, outputs_json
            )
            elapsed = time.perf_counter() - start
        except Exception as exc:  # noqa: BLE001
            status, content = self._failure(exc, name, codec, version, start, request_id)
            await _answer(send, status, content, JSON, request_id, None, None)
            if self.auditor is not None and verdict is not None:
                self.auditor.note(verdict, status, request_id, scope)
            return
        # The answer goes out first: the bookkeeping below is no part of it, and the client's
        # next request can be on its way meanwhile.
        await _answer(send, 200, content, media, request_id, number, extra)
        self.metrics.observe(name, str(number), codec.name, 200, elapsed)
        if sampled:
            try:
                if self._log_policies.fixed or endpoint.log_policy is not None:  # ``applies``
                    inputs = log_inputs(version.check, batch.data)
                    self._log(
                        request_id, endpoint, number, codec.name, 200, elapsed, inputs, outputs_json
                    )
                elif not self.log.append_usual(  # the usual row, as its fields
                    (endpoint.name, endpoint.model, number, codec.name, version.check.column_names),
                    request_id,
                    elapsed * 1000.0,
                    batch.data,
                    outputs_json,
                ):  # any other row, queued as ``_log`` would, without its look-ups
                    self.log.append(
                        (
                            request_id,
                            time.time(),
                            endpoint.name,
                            endpoint.model,
                            number,
                            False,
                            codec.name,
                            200,
                            elapsed * 1000.0,
                            log_inputs(version.check, batch.data),
                            outputs_json,
                            None,
                        )
                    )
            except Exception:  # the answer is sent: a row the log cannot take is said, not raised
                log.exception("request log: could not queue the row of request %s", request_id)
        if self.auditor is not None and verdict is not None and self.auditor.data_reads:
            self.auditor.note(verdict, 200, request_id, scope)
        if route.shadow is not None:
            await run_in_threadpool(self._shadow, route, codec, parsed, request_id)

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

    async def _body(self, receive: Receive, length: bytes | None) -> bytes | None:
        """The request body, refused past the size limit; None when the client disconnects."""
        limit = self.config.max_body_bytes
        if length is not None and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"the body is {length.decode()} bytes; the limit is {limit}")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
            if not message.get("more_body", False):
                if not chunks:
                    return bytes(chunk)
                chunks.append(chunk)
                return b"".join(chunks)
            chunks.append(chunk)

    def _shadow(self, route: Route, codec: Codec[Any], parsed: Any, request_id: str) -> None:
        shadow = route.shadow
        if shadow is None:
            return
        start = time.perf_counter()
        outputs, status, error, data = None, 200, None, None
        try:
            batch = codec.build(parsed, shadow.check)
            data = log_inputs(shadow.check, batch.data)
            outputs = dumps(shadow.predict(batch))
        except Exception as exc:  # noqa: BLE001 - recorded, never returned
            status, error = http_status(exc), str(exc)
        elapsed = time.perf_counter() - start
        self._log(
            request_id,
            route.endpoint,
            shadow.version,
            codec.name,
            status,
            elapsed,
            data,
            outputs,
            error,
            shadow=True,
        )

    def _log(
        self,
        request_id: str,
        endpoint: Endpoint,
        version: int | None,
        protocol: str,
        status: int,
        elapsed: float,
        inputs: Any = None,
        outputs: Any = None,
        error: str | None = None,
        *,
        shadow: bool = False,
    ) -> None:
        """Queue the request log row of one answer (or one shadow prediction), with the
        endpoint's PII policy applied when it has one."""
        policies = self._log_policies
        if policies.applies(endpoint):
            protector = policies.for_endpoint(endpoint)
            if isinstance(protector, str):  # it cannot be applied here: fail closed
                inputs, outputs, error = None, None, protector
            elif protector is not None:
                try:
                    inputs, outputs, error = protect_row(
                        protector, json_inputs(inputs), outputs, error
                    )
                except Exception:
                    log.exception("request log: the PII policy failed; logging the row empty")
                    inputs, outputs, error = None, None, "the request log's PII policy failed"
        # A plain tuple, not a ``LogRow``: see ``usina.serving.logfiles.Row``.
        self.log.append(
            (
                request_id,
                time.time(),
                endpoint.name,
                endpoint.model,
                version,
                shadow,
                protocol,
                status,
                elapsed * 1000.0,
                inputs,
                outputs,
                error,
            )
        )

    def _failure(
        self,
        exc: Exception,
        name: str | None,
        codec: Codec[Any],
        version: LoadedVersion | None,
        start: float,
        request_id: str,
    ) -> tuple[int, bytes]:
        status = http_status(exc)
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
        self.metrics.observe(label, str(number or ""), codec.name, status, elapsed)
        if route is not None and _sampled(route.endpoint):
            self._log(
                request_id, route.endpoint, number, codec.name, status, elapsed, error=message
            )
        field = exc.field if isinstance(exc, UsinaError) else None
        return status, codec.error(status, message, field)

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


class PredictEndpoint:
    """A predict route's endpoint as a plain ASGI app: the request is read from ``receive``
    and answered on ``send`` directly, without a Starlette Request and Response per call."""

    def __init__(self, service: InferenceService, codec: Codec[Any], path: str = "") -> None:
        self.service = service
        self.codec = codec
        self.path = path
        # With a gate, the route checks access itself (a host wraps the others).
        self.checks_access = service.gate is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.service.serve(scope, receive, send, self.codec, self.path)


_MEDIA: dict[str, bytes] = {}


async def _answer(
    send: Send,
    status: int,
    content: bytes,
    media: str,
    request_id: str,
    version: int | None,
    extra: dict[str, str] | None,
) -> None:
    """Send one complete answer: its headers, then its body, in two ASGI messages."""
    media_bytes = _MEDIA.get(media)
    if media_bytes is None:
        media_bytes = _MEDIA.setdefault(media, media.encode("latin-1"))
    headers = [
        (b"content-length", b"%d" % len(content)),
        (b"content-type", media_bytes),
        (b"x-request-id", request_id.encode("latin-1")),
    ]
    if version is not None:
        headers.append((b"usina-model-version", b"%d" % version))
    if extra:
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def _log_policies(settings: Settings) -> dict[str, Protector]:
    """The request log's PII policies named by ``USINA_REQUEST_LOG_PII_POLICY`` (none unset)."""
    if not settings.request_log_pii_policy:
        return {}
    from usina.privacy import load_key

    secret = settings.pii_key.get_secret_value() if settings.pii_key is not None else None
    return load_log_policies(
        settings.request_log_pii_policy, lambda: load_key(secret, settings.pii_key_file)
    )


def _pii_key(settings: Settings) -> PiiKey | None:
    """The PII key ``USINA_PII_KEY`` or ``USINA_PII_KEY_FILE`` give (a malformed one stops the
    server with a message naming the setting); None when neither is set."""
    secret = settings.pii_key.get_secret_value() if settings.pii_key is not None else None
    if not secret and not settings.pii_key_file:
        return None
    from usina.privacy import load_key

    return load_key(secret, settings.pii_key_file)


def _sampled(endpoint: Endpoint) -> bool:
    """Whether this request goes to the log, at the endpoint's sample rate."""
    rate = endpoint.sample_rate
    return rate >= 1.0 or (rate > 0.0 and random.random() < rate)


class ServingApp(Starlette):
    """The inference app: a POST to a predict path goes straight to its route's endpoint,
    everything else through Starlette's middleware and router.

    A predict endpoint answers every failure itself (``InferenceService.serve``), so Starlette's
    two exception layers and its router have nothing to add on that path but their cost: about
    4 to 8 us a request, a tenth of a small model's whole answer. The predict routes come first
    in the router and take only POST, so the first whose pattern matches is the one Starlette
    would choose; a request under a ``root_path`` takes Starlette's way.
    """

    def __init__(self, *, routes: list[HttpRoute], lifespan: Any) -> None:
        super().__init__(routes=routes, lifespan=lifespan)
        self._predict = [
            (route.path_regex, route.param_convertors, route.app)
            for route in routes
            if isinstance(route.app, PredictEndpoint)
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path = scope["path"]
            for regex, convertors, endpoint in self._predict:
                match = regex.match(path)
                if match is not None:
                    scope["app"] = self
                    scope["path_params"] = {
                        key: convertors[key].convert(value)
                        for key, value in match.groupdict().items()
                    }
                    await endpoint(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


def inference_routes(service: InferenceService, *, with_ops: bool = True) -> list[HttpRoute]:
    """The routes answered by ``service``: every protocol, and with ``with_ops`` also
    ``/metrics``, ``/ping`` and ``/health`` (a host with its own leaves them out)."""
    routes = [
        HttpRoute(path, service.predict_handler(codec, path), methods=["POST"])
        for path, codec in PREDICT_ROUTES
    ]
    return routes + StatusRoutes(service.runtime, service.metrics).routes(with_ops=with_ops)


def create_app(
    db: Database | str, artifacts: ArtifactStore | str, config: ServingConfig | None = None
) -> Starlette:
    """The inference app for the endpoints in ``db``, models read from ``artifacts``.

    The service is available as ``app.state.service`` (a host mounting the app calls its
    ``startup`` and ``shutdown``). With ``config.auth``, every route needs a valid token but
    health (``usina.identity.permissions``), and refusals are written to the audit log.
    """
    database = Database(db) if isinstance(db, str) else db
    store = open_artifact_store(artifacts) if isinstance(artifacts, str) else artifacts
    config = config or ServingConfig()
    # Tokens are read from the database at most once a second each: the predict path costs a
    # hash, a dict lookup and the grant check.
    gate = Gate(TokenVerifier(database), auth=config.auth, metrics_public=config.metrics_public)
    service = InferenceService(database, store, config, gate)
    routes = inference_routes(service)
    for route in routes:
        if getattr(route.app, "checks_access", False):
            continue
        if not config.auth and all(
            gate.check(method, route.path, {}, None).status == 0 for method in route.methods or ()
        ):
            continue  # declared, and with auth off nothing else is checked: no gate per request
        route.app = GatedApp(route.app, gate, route.path)
    recorder = (
        AuditRecorder(SqlAuditStore(database), registry=service.metrics.registry)
        if config.auth
        else None
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if recorder is not None:
            await asyncio.to_thread(database.migrate)
            recorder.start()
        await service.startup()
        try:
            yield
        finally:
            await service.shutdown()
            if recorder is not None:
                # A graceful stop writes every audit record still queued.
                await asyncio.to_thread(recorder.close)

    if recorder is not None:
        # Each route records its audited requests: the predict routes themselves, once they
        # have answered; the others through an ``AuditTrail`` around the route.
        service.auditor = Auditor(recorder, data_reads=config.audit_data_reads)
        for route in routes:
            if not getattr(route.app, "checks_access", False):
                route.app = AuditTrail(route.app, recorder, data_reads=config.audit_data_reads)
    app = ServingApp(routes=routes, lifespan=lifespan)
    app.state.service = service
    app.state.recorder = recorder
    return app
