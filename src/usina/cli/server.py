"""``usina server``: the REST API for a team to share one usina."""

from __future__ import annotations

from typing import Optional

import typer


def server(
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to listen on; other than loopback needs USINA_AUTH=on or --insecure.",
    ),
    port: int = typer.Option(8080, "--port", "-p", min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, max=64, help="Worker processes."),
    allowed_host: list[str] = typer.Option(
        [],
        "--allowed-host",
        help="A Host header name to answer (repeat; '*' for any). "
        "Default: the bound host and localhost. Also USINA_ALLOWED_HOSTS.",
    ),
    cors_origin: list[str] = typer.Option(
        [],
        "--cors-origin",
        help="A browser origin allowed to call the API (repeat). Default: none.",
    ),
    insecure: bool = typer.Option(
        False,
        "--insecure",
        help="Listen beyond loopback with USINA_AUTH=off (no authentication); prints a "
        "warning on every start.",
    ),
    tls_cert: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--tls-cert",
        help="Serve HTTPS with this certificate chain (PEM); also USINA_TLS_CERT.",
    ),
    tls_key: Optional[str] = typer.Option(  # noqa: UP045
        None, "--tls-key", help="The certificate's private key (PEM); also USINA_TLS_KEY."
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    scheduler: bool = typer.Option(
        True,
        "--scheduler/--no-scheduler",
        help="Run 'usina scheduler' beside the API so schedules fire (default on).",
    ),
    serving: Optional[bool] = typer.Option(  # noqa: UP045
        None,
        "--serving/--no-serving",
        help="Answer every endpoint's inference routes (those of 'usina serve') on the same "
        "port. Default: USINA_SERVER_SERVING, on.",
    ),
) -> None:
    """Serve the REST API (/api/v1, /docs, /healthz, /readyz, /metrics) over USINA_DB_URL and
    USINA_ARTIFACTS, and every endpoint's inference routes."""
    import os

    from usina.cli.context import remote_url
    from usina.errors import InvalidInput
    from usina.server.launch import run_server

    if remote_url():
        raise InvalidInput(
            "'usina server' serves a database, not another server; unset USINA_URL / --url",
            field="url",
        )
    if allowed_host:
        os.environ["USINA_ALLOWED_HOSTS"] = ",".join(allowed_host)
    if cors_origin:
        os.environ["USINA_CORS_ORIGINS"] = ",".join(cors_origin)
    # Workers read their settings from the environment, so options travel that way.
    if tls_cert:
        os.environ["USINA_TLS_CERT"] = tls_cert
    if tls_key:
        os.environ["USINA_TLS_KEY"] = tls_key
    if serving is not None:
        os.environ["USINA_SERVER_SERVING"] = "true" if serving else "false"
    run_server(
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        scheduler=scheduler,
        insecure=insecure,
    )
