"""Launch the server: uvicorn with one process or N workers sharing the port, and the
scheduler process beside them (``usina server``; ``usina serve`` is the inference app alone)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from typing import Any

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# What anyone who reaches a server without authentication can do, by command.
SERVER_REACH = "read and change every experiment, run and model"
SERVE_REACH = "call every endpoint and read what it serves"


def exposure_warning(host: str, auth: bool = False, reach: str = SERVER_REACH) -> str | None:
    """The warning for listening beyond this machine with authentication off (``None`` on
    loopback or with ``USINA_AUTH=on``)."""
    if host in LOOPBACK or auth:
        return None
    return (
        f"warning: listening on {host} with --insecure: USINA_AUTH is off, so the usina API "
        f"has no authentication and anyone who can reach this address can {reach}. Set "
        "USINA_AUTH=on (see docs/security.md), or bind 127.0.0.1."
    )


def exposure_refusal(host: str, reach: str = SERVER_REACH) -> str:
    """Why a server on ``host`` with authentication off does not start."""
    return (
        f"refusing to listen on {host} with USINA_AUTH=off: anyone who can reach it could "
        f"{reach}. Set USINA_AUTH=on and create the first admin (docs/security.md), bind "
        "127.0.0.1, or pass --insecure to serve without authentication anyway"
    )


def check_exposure(host: str, auth: bool, insecure: bool, reach: str = SERVER_REACH) -> None:
    """Refuse (``InvalidInput`` naming ``USINA_AUTH``) to listen beyond loopback with
    authentication off unless ``insecure``; with it, print the warning (on every start)."""
    from usina.errors import InvalidInput

    if host not in LOOPBACK and not auth and not insecure:
        raise InvalidInput(exposure_refusal(host, reach), field="USINA_AUTH")
    warning = exposure_warning(host, auth, reach)
    if warning:
        print(warning, file=sys.stderr, flush=True)


def tls_files(
    cert: os.PathLike[str] | str | None, key: os.PathLike[str] | str | None
) -> tuple[str, str] | None:
    """The certificate and key files to serve HTTPS with (``None``: plain HTTP), after checking
    that both are given and form a certificate and its private key."""
    import ssl

    from usina.errors import InvalidInput

    if bool(cert) != bool(key):
        missing = "USINA_TLS_KEY (--tls-key)" if cert else "USINA_TLS_CERT (--tls-cert)"
        raise InvalidInput(
            f"TLS needs a certificate and its key: {missing} is missing; give both or neither",
            field=missing.split()[0],
        )
    if not cert or not key:
        return None
    pair = (os.fspath(cert), os.fspath(key))
    for path, setting in zip(pair, ("USINA_TLS_CERT", "USINA_TLS_KEY"), strict=True):
        if not os.path.isfile(path):
            raise InvalidInput(f"TLS file {path!r} does not exist; fix {setting}", field=setting)
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(*pair)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidInput(
            f"USINA_TLS_CERT={pair[0]!r} and USINA_TLS_KEY={pair[1]!r} are not a PEM "
            f"certificate and its private key ({exc}); fix them",
            field="USINA_TLS_CERT",
        ) from None
    return pair


def check_production(host: str, profile: str, tls: tuple[str, str] | None) -> None:
    """In the production profile, refuse (``InvalidInput``) to listen beyond loopback without
    TLS."""
    from usina.errors import InvalidInput

    if profile == "production" and host not in LOOPBACK and tls is None:
        raise InvalidInput(
            f"refusing to listen on {host} over plain HTTP: USINA_PROFILE=production needs TLS "
            "beyond loopback; give --tls-cert and --tls-key (USINA_TLS_CERT, USINA_TLS_KEY), "
            "or bind 127.0.0.1 behind a TLS-terminating proxy",
            field="USINA_TLS_CERT",
        )


def run_server(
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    log_level: str = "info",
    scheduler: bool = True,
    insecure: bool = False,
) -> None:
    """Serve the API for the ``USINA_*`` environment until interrupted.

    Each worker builds its own app from the environment (``app_from_env``); with more than one,
    Prometheus counters go to a shared folder so ``/metrics`` sums them. With ``scheduler``, a
    ``usina scheduler`` process runs beside the workers and stops with them: schedules fire
    with no other process to start, and the scheduler's lease in the database keeps each tick
    to one run however many servers run it.

    On an address other than loopback, the server needs ``USINA_AUTH=on``, or ``insecure``
    (which prints a warning on every start); otherwise ``InvalidInput`` is raised. With
    ``USINA_TLS_CERT`` and ``USINA_TLS_KEY`` it answers HTTPS only; ``USINA_PROFILE=production``
    refuses plain HTTP beyond loopback.
    """
    import uvicorn

    from usina.server.app import ServerConfig, create_app
    from usina.settings import Settings

    settings = Settings()
    tls = tls_files(settings.tls_cert, settings.tls_key)
    check_production(host, settings.profile, tls)
    config = ServerConfig.from_settings(settings, host)
    check_exposure(host, config.auth, insecure)
    # Build the app once here, so a malformed database URL or a missing extra is one clear
    # error before any worker starts (each worker then builds its own and migrates).
    create_app(config)
    os.environ["USINA_SERVER_HOST"] = host
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="usina-metrics-")
    companion = _start_scheduler() if scheduler else None
    try:
        _run_uvicorn(uvicorn, host, port, workers, log_level, tls)
    finally:
        if companion is not None:
            companion.terminate()
            try:
                companion.wait(10)
            except subprocess.TimeoutExpired:
                companion.kill()


def _start_scheduler() -> subprocess.Popen[bytes]:
    # A process of its own: pipelines fork their step workers, which a threaded server worker
    # should not do.
    # It watches this process and stops when it is gone, even after a SIGKILL that leaves no
    # chance to stop it from here.
    env = {**os.environ, "USINA_SCHEDULER_PARENT": str(os.getpid())}
    return subprocess.Popen([sys.executable, "-m", "usina", "scheduler"], env=env)


def _run_uvicorn(
    uvicorn: Any,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    tls: tuple[str, str] | None = None,
) -> None:
    from usina.serving.nodelay import PROTOCOLS
    from usina.settings import Settings

    uvicorn.run(
        "usina.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        # With several workers uvicorn leaves TCP_NODELAY off and each answer waits ~40 ms
        # on the client's delayed ACK; the serving module's protocols set it.
        http=PROTOCOLS[Settings().serve_http],
        loop="asyncio",
        proxy_headers=False,
        server_header=False,
        # Longer than the clients' idle pool expiry (httpx: 5 s), so a client never reuses a
        # connection at the moment the server closes it.
        timeout_keep_alive=30,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
