"""The management server's ASGI application: ``create_app(config)``.

Every process (each of ``usina server --workers N``) builds its own app from the same
``ServerConfig`` and migrates the database on start-up under a lock, so N workers starting
together migrate once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware

from usina import __version__
from usina.artifacts import open_artifact_store
from usina.audit import AuditRecorder, SqlAuditStore
from usina.audit.trail import AuditTrail
from usina.crypto.keys import KeyProvider
from usina.identity import TokenVerifier
from usina.identity.credentials import secret_hash
from usina.identity.gate import Gate
from usina.monitoring.alerter import Alerter
from usina.monitoring.alerts import DEFAULT_COOLDOWN
from usina.monitoring.channels import DeliveryConfig
from usina.monitoring.sql import SqlAlertStore
from usina.secrets.references import resolve_references
from usina.secrets.sql import SqlSecretStore
from usina.server import (
    alerts,
    artifacts,
    audit,
    batch,
    datasets,
    endpoints,
    errors,
    identity,
    labels,
    monitors,
    observability,
    pii,
    pipelines,
    policies,
    registry,
    schedules,
    secrets,
    topics,
    tracking,
    ui,
)
from usina.server.deps import Backends
from usina.server.guard import GuardRoutes, check
from usina.server.guards import BodyLimit, HostGuard
from usina.server.schemas import ErrorBody
from usina.store import Database
from usina.topics.sql import default_topics_url

if TYPE_CHECKING:
    from usina.serving import InferenceService, ServingConfig
    from usina.settings import Settings

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _default_serving() -> ServingConfig:
    from usina.serving import ServingConfig

    return ServingConfig()


@dataclass(frozen=True)
class ServerConfig:
    """What one server serves and whom it answers.

    ``serving`` configures the inference routes the server answers beside the REST API (those
    of ``usina serve``, at the same paths); ``None`` turns them off. ``auth`` requires a
    valid bearer token on every route but the public ones (``USINA_AUTH=on``); without it
    the actor is self-declared, and a route declared nowhere is still refused.
    ``audit_data_reads`` records requests that only read data too; ``metrics_public`` lets
    ``/metrics`` be scraped without a token when ``auth`` is on.
    """

    db_url: str
    artifacts: str
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS
    cors_origins: tuple[str, ...] = ()
    max_upload_bytes: int = 50 * 2**30
    heartbeat_timeout: float = 60.0
    serving: ServingConfig | None = field(default_factory=_default_serving)
    token_max_days: float = 90.0
    bootstrap_token: str | None = field(default=None, repr=False)
    auth: bool = False
    audit_data_reads: bool = False
    metrics_public: bool = False
    # How monitor runs made on the server send their alerts (SMTP, webhooks, retries).
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    alert_cooldown: float = DEFAULT_COOLDOWN
    # The PII key (USINA_PII_KEY, or the file USINA_PII_KEY_FILE) of POST /api/v1/pii:reidentify.
    pii_key: str | None = field(default=None, repr=False)
    pii_key_file: str | None = None
    # The topic log (USINA_TOPICS_URL); None: topics.db beside the database or artifact folder.
    topics_url: str | None = None
    # The master key ring: artifacts, request-log files and secrets are encrypted with it.
    keys: KeyProvider | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, host: str = "127.0.0.1") -> ServerConfig:
        """The config ``settings`` describe; unless hosts are listed, the server answers to the
        bound ``host`` and to localhost."""
        keys = settings.key_ring()
        settings = resolve_references(settings, lambda: _server_secrets(settings, keys))
        hosts = [h.strip() for h in settings.allowed_hosts.split(",") if h.strip()]
        if not hosts:
            hosts = list(LOCAL_HOSTS)
            if host not in ("0.0.0.0", "::", ""):
                hosts.append(host)
        return cls(
            db_url=settings.resolved_db_url(),
            artifacts=settings.resolved_artifacts(),
            allowed_hosts=tuple(hosts),
            cors_origins=tuple(o.strip() for o in settings.cors_origins.split(",") if o.strip()),
            max_upload_bytes=settings.max_upload_bytes,
            heartbeat_timeout=settings.heartbeat_timeout,
            serving=_serving_config(settings) if settings.server_serving else None,
            token_max_days=settings.token_max_days,
            bootstrap_token=settings.bootstrap_token,
            auth=settings.auth == "on",
            audit_data_reads=settings.audit_data_reads == "on",
            metrics_public=settings.metrics_public,
            delivery=DeliveryConfig.from_settings(settings),
            alert_cooldown=settings.alert_cooldown,
            pii_key=settings.pii_key.get_secret_value() if settings.pii_key else None,
            pii_key_file=settings.pii_key_file,
            topics_url=settings.resolved_topics_url(),
            keys=keys,
        )


def _server_secrets(settings: Settings, keys: KeyProvider | None) -> SqlSecretStore:
    """The secret store settings' ``secret:NAME`` references are read from, as the server."""
    db = Database(settings.resolved_db_url())
    db.migrate()
    return SqlSecretStore(db, actor="usina-server", keys=keys, audit=SqlAuditStore(db))


def _serving_config(settings: Settings) -> ServingConfig:
    # Imported here: the serving stack loads numpy, which a server without serving never needs.
    from usina.serving import ServingConfig

    return ServingConfig.from_settings(settings)


def create_app(config: ServerConfig) -> FastAPI:
    """The REST API for ``config``'s database and artifact store, and, unless
    ``config.serving`` is ``None``, the inference routes of its endpoints."""
    db = Database(config.db_url)
    store = open_artifact_store(config.artifacts, config.keys)
    backends = Backends(db, store, config.heartbeat_timeout, config.keys)
    inference: InferenceService | None = None
    # Tokens are checked against the database at most once a second per token (the cache's
    # bound on how long a revoked token keeps working), never once per request.
    verifier = TokenVerifier(db)
    gate = Gate(verifier, auth=config.auth, metrics_public=config.metrics_public)
    recorder = AuditRecorder(SqlAuditStore(db))
    topic_log = topics.SharedTopicLog(
        config.topics_url or default_topics_url(config.db_url, store), config.keys
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(db.migrate)
        recorder.start()
        if inference is not None:
            await inference.startup()
        try:
            yield
        finally:
            if inference is not None:
                await inference.shutdown()
            # A graceful stop writes every audit record still queued.
            await run_in_threadpool(recorder.close)
            await run_in_threadpool(topic_log.close)
            db.dispose()

    app = FastAPI(
        title="usina",
        version=__version__,
        summary=(
            "Tracking, the registry, pipeline runs, schedules and online endpoints of a usina "
            "installation."
        ),
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # The access check of every FastAPI route, after routing (usina.server.guard).
        dependencies=[Depends(check)],
        responses={
            400: {"model": ErrorBody, "description": "Bad input; `field` names it."},
            404: {"model": ErrorBody, "description": "Not found."},
            409: {"model": ErrorBody, "description": "Conflicts with the stored state."},
            413: {"model": ErrorBody, "description": "Body over the server's limit."},
            422: {"model": ErrorBody, "description": "Malformed request; `field` names it."},
            503: {"model": ErrorBody, "description": "The metadata database is unavailable."},
            401: {"model": ErrorBody, "description": "No valid bearer token (USINA_AUTH=on)."},
            403: {"model": ErrorBody, "description": "The caller's roles do not allow it."},
        },
    )
    app.state.backends = backends
    app.state.config = config
    app.state.topic_log = topic_log
    app.state.alerter = Alerter(
        SqlAlertStore(backends.db), config.delivery, cooldown=config.alert_cooldown
    )
    app.state.verifier = verifier
    app.state.gate = gate
    app.state.recorder = recorder
    app.state.token_max_days = config.token_max_days
    app.state.bootstrap_hash = (
        secret_hash(config.bootstrap_token) if config.bootstrap_token else None
    )
    errors.install(app)
    for module in (
        tracking,
        registry,
        endpoints,
        artifacts,
        pipelines,
        schedules,
        audit,
        identity,
        alerts,
        labels,
        monitors,
        batch,
        pii,
        topics,
        secrets,
        datasets,
        policies,
    ):
        app.include_router(module.router)
    app.include_router(observability.router)
    _mount_docs(app)
    if config.serving is not None:
        from usina.server.inference import add_inference

        inference = add_inference(app, db, store, config.serving, gate)
    # /metrics adds the serving metrics when there are any.
    app.state.inference = inference

    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["content-type", "x-usina-actor", "authorization"],
        )
    # The web console (/ui): its session middleware runs inside the access check and audit.
    ui.install(app)
    app.add_middleware(GuardRoutes, fastapi_app=app, gate=gate)
    app.add_middleware(AuditTrail, recorder=recorder, data_reads=config.audit_data_reads)
    app.add_middleware(BodyLimit, max_upload_bytes=config.max_upload_bytes)
    app.add_middleware(HostGuard, allowed=list(config.allowed_hosts))
    app.add_middleware(observability.RequestMetrics)
    return app


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs``, its assets served from the installed package (no CDN)."""
    from starlette.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs/static", StaticFiles(directory=swagger_ui_path), name="swagger-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/api/v1/openapi.json",
            title="usina API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )


def app_from_env() -> FastAPI:
    """The app for the ``USINA_*`` environment: what each uvicorn worker builds."""
    import logging
    import os

    usina_log = logging.getLogger("usina")
    if not usina_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        usina_log.addHandler(handler)
        usina_log.setLevel(logging.INFO)

    from usina.settings import Settings

    return create_app(
        ServerConfig.from_settings(Settings(), os.environ.get("USINA_SERVER_HOST", "127.0.0.1"))
    )
