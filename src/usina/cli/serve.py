"""``usina serve``: the inference app alone, with N uvicorn workers.

Each worker builds its app from ``USINA_*`` settings through :func:`build_app`, so the same
command runs one process on a laptop or one replica of a Deployment behind a load balancer.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Optional

import typer

if TYPE_CHECKING:
    from starlette.applications import Starlette


def build_app() -> Starlette:
    """The inference app for the current ``USINA_*`` settings (uvicorn's factory)."""
    from usina.artifacts import open_artifact_store
    from usina.serving import ServingConfig, create_app
    from usina.settings import Settings

    s = Settings()
    config = ServingConfig.from_settings(s)
    store = open_artifact_store(s.resolved_artifacts(), s.key_ring())
    return create_app(s.resolved_db_url(), store, config)


def serve(
    host: Optional[str] = typer.Option(None, "--host", help="Listen address (USINA_SERVE_HOST)."),  # noqa: UP045
    port: Optional[int] = typer.Option(None, "--port", "-p", help="Port (USINA_SERVE_PORT)."),  # noqa: UP045
    workers: Optional[int] = typer.Option(  # noqa: UP045
        None, "--workers", "-w", min=1, max=64, help="Worker processes (USINA_SERVE_WORKERS)."
    ),
    endpoint: Optional[str] = typer.Option(  # noqa: UP045
        None, "--endpoint", help="Endpoint for the bare /invocations route (USINA_SERVE_ENDPOINT)."
    ),
    insecure: bool = typer.Option(
        False,
        "--insecure",
        help="Listen beyond loopback with USINA_AUTH=off (no authentication); prints a "
        "warning on every start.",
    ),
    tls_cert: Optional[str] = typer.Option(  # noqa: UP045
        None, "--tls-cert", help="Serve HTTPS with this certificate chain (USINA_TLS_CERT)."
    ),
    tls_key: Optional[str] = typer.Option(  # noqa: UP045
        None, "--tls-key", help="The certificate's private key (USINA_TLS_KEY)."
    ),
) -> None:
    """Serve every endpoint over HTTP: Vertex AI, Open Inference (V2) and MLflow protocols."""
    import tempfile

    import uvicorn

    from usina.server.launch import SERVE_REACH, check_exposure, check_production, tls_files
    from usina.serving.nodelay import PROTOCOLS
    from usina.settings import Settings

    # Workers read their settings from the environment, so options travel that way.
    for key, value in (
        ("HOST", host),
        ("PORT", port),
        ("WORKERS", workers),
        ("ENDPOINT", endpoint),
    ):
        if value is not None:
            os.environ[f"USINA_SERVE_{key}"] = str(value)
    if tls_cert:
        os.environ["USINA_TLS_CERT"] = tls_cert
    if tls_key:
        os.environ["USINA_TLS_KEY"] = tls_key
    settings = Settings()
    tls = tls_files(settings.tls_cert, settings.tls_key)
    check_production(settings.serve_host, settings.profile, tls)
    # Beyond loopback, predictions and endpoint metadata need tokens, as for 'usina server'.
    check_exposure(settings.serve_host, settings.auth == "on", insecure, SERVE_REACH)
    if settings.serve_workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="usina-metrics-")
    typer.echo(
        f"usina serving on {'https' if tls else 'http'}://{settings.serve_host}:"
        f"{settings.serve_port} "
        f"with {settings.serve_workers} worker(s)"
    )
    uvicorn.run(
        "usina.cli.serve:build_app",
        factory=True,
        host=settings.serve_host,
        port=settings.serve_port,
        workers=settings.serve_workers,
        log_level="warning",
        access_log=False,
        http=PROTOCOLS[settings.serve_http],
        # asyncio, even where uvloop is installed: with uvloop the median p99 at 32 connections
        # was 1.4 times asyncio's (2 times with h11) for the same throughput.
        loop="asyncio",
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
