"""Typed settings, read from ``USINA_*`` environment variables.

Only the edges (the command line, the server, the default client of the top-level API) build a
``Settings``; everything below receives plain values.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from usina.crypto.keys import KeyRing


class Settings(BaseSettings):
    """Where usina keeps its state.

    Example:
        >>> Settings(home=Path("/tmp/u")).resolved_db_url()
        'sqlite:////tmp/u/usina.db'
    """

    model_config = SettingsConfigDict(env_prefix="USINA_", extra="ignore")

    home: Path = Field(default=Path(".usina"), description="Folder for embedded state.")
    db_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata database; SQLite in the home by default.",
    )
    artifacts: str | None = Field(
        default=None,
        description="Artifact store URI (a folder, file://, gs://, s3://); a folder in the home.",
    )
    url: str | None = Field(
        default=None,
        description="A usina server (http://host:port) to work through instead of the database.",
    )
    topics_url: str | None = Field(
        default=None,
        description="The topic log: sqlite:///path/topics.db (embedded, the default: topics.db "
        "in the home), redis://host:6379/0 (Redis Streams), nats://host:4222 (NATS "
        "JetStream) or pubsub://PROJECT (Google Pub/Sub, the pubsub extra); ?lease=SECONDS "
        "sets how long a polled message stays with its consumer (30 by default).",
    )
    actor: str = Field(default="local", description="Name recorded on every write.")
    token: str | None = Field(
        default=None,
        repr=False,
        description="A token (from `usina auth login` or `usina tokens create`) that clients "
        "and the command line send to a usina server; overrides the one `usina auth login` "
        "saved.",
    )
    config_dir: Path | None = Field(
        default=None,
        description="Where `usina auth login` keeps tokens (mode 0600); "
        "$XDG_CONFIG_HOME/usina or ~/.config/usina by default.",
    )
    token_max_days: float = Field(
        default=90.0,
        gt=0,
        le=3650,
        description="Server: the longest lifetime a token may be given, in days; every token "
        "expires.",
    )
    bootstrap_token: str | None = Field(
        default=None,
        repr=False,
        min_length=32,
        description="Server: a one-time secret (32+ characters) exchangeable once, at "
        "POST /api/v1/auth/bootstrap or `usina auth bootstrap`, for the first admin's token.",
    )
    auth: Literal["off", "on"] = Field(
        default="off",
        description="Server and `usina serve`: `on` requires a valid bearer token on every "
        "route but health, readiness and login, checks each route's permission, and records "
        "the token's principal as the actor of writes; `off` (one machine, or a trusted "
        "network) takes the actor from X-Usina-Actor. A server on a non-loopback address "
        "refuses to start with `off` unless given `--insecure`.",
    )
    audit_data_reads: Literal["off", "on"] = Field(
        default="off",
        description="Server and `usina serve`: also write an audit record for each request "
        "that only reads data (predictions included); writes and refusals are always recorded.",
    )
    metrics_public: bool = Field(
        default=False,
        description="Server and `usina serve` with USINA_AUTH=on: let /metrics be scraped "
        "without a token (any valid token otherwise).",
    )
    heartbeat_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds without a heartbeat after which a running run, or batch job, is "
        "marked failed.",
    )
    ray_address: str = Field(
        default="",
        description="`usina batch run --engine ray`: the Ray cluster to score on "
        "(ray://host:10001); empty starts a local Ray, or joins the one RAY_ADDRESS names.",
    )

    audit_key: SecretStr | None = Field(
        default=None,
        description="Secret (16 characters or more) that signs and checks audit log checkpoints "
        "(`usina audit checkpoint`, `usina audit verify --checkpoint`).",
    )

    master_key: SecretStr | None = Field(
        default=None,
        description="Encryption at rest: the master key ring, comma-separated ID:BASE64 "
        "entries of 32-byte keys (`usina keys generate`), the first one current. With it, "
        "artifacts, request-log files and secrets are stored encrypted (AES-256-GCM).",
    )
    master_key_file: Path | None = Field(
        default=None,
        description="Encryption at rest: a file (mode 0600) holding the master key ring, "
        "instead of USINA_MASTER_KEY.",
    )
    profile: Literal["development", "production"] = Field(
        default="development",
        description="`production` makes `usina server` and `usina serve` refuse to listen "
        "on an address other than loopback without TLS (USINA_TLS_CERT, USINA_TLS_KEY).",
    )
    tls_cert: Path | None = Field(
        default=None,
        description="Server and `usina serve`: the TLS certificate chain (PEM); with "
        "USINA_TLS_KEY they answer HTTPS only.",
    )
    tls_key: Path | None = Field(
        default=None, description="Server and `usina serve`: the TLS private key (PEM)."
    )
    ca_bundle: Path | None = Field(
        default=None,
        description="Clients: the CA certificates (PEM) a usina server's certificate is "
        "checked against, instead of the system's.",
    )

    allowed_hosts: str = Field(
        default="",
        description="Server: comma-separated Host header names it answers (DNS rebinding "
        "guard); the bound host plus localhost by default, '*' for any.",
    )
    cors_origins: str = Field(
        default="",
        description="Server: comma-separated origins allowed to call it from a browser; none by "
        "default (CORS off).",
    )
    max_upload_bytes: int = Field(
        default=50 * 2**30,
        gt=0,
        description="Server: the largest artifact it accepts in one upload, in bytes.",
    )
    server_serving: bool = Field(
        default=True,
        description="Server: also answer every endpoint's inference routes, as `usina serve` "
        "does, on the API's port (its `USINA_SERVE_*` settings apply, but for host, port and "
        "workers).",
    )

    serve_host: str = Field(
        default="127.0.0.1", description="Address `usina serve` listens on (0.0.0.0 for all)."
    )
    serve_port: int = Field(default=8080, ge=1, le=65535, description="Port of `usina serve`.")
    serve_workers: int = Field(
        default=1, ge=1, le=64, description="Worker processes of `usina serve`, each a full server."
    )
    serve_endpoint: str | None = Field(
        default=None,
        description="Endpoint answering MLflow's bare /invocations route (the only one if unset).",
    )
    serve_poll_interval: float = Field(
        default=0.5,
        gt=0,
        le=2.0,
        description="Seconds between a serving worker's checks for alias moves and split changes.",
    )
    serve_max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Largest request body; a larger one gets 413."
    )
    serve_trust_pickles: bool = Field(
        default=False,
        description="Let serving load versions stored as pickles (they can run any code).",
    )
    serve_http: Literal["httptools", "h11"] = Field(
        default="httptools",
        description="HTTP parser of `usina serve` and `usina server`: httptools (C) or h11 "
        "(pure Python, about two thirds of httptools' throughput at 32 connections).",
    )
    serve_fast_predict: bool = Field(
        default=True,
        description="Answer supported scikit-learn models with a checked fast predictor that "
        "skips scikit-learn's repeated input checks.",
    )
    request_log_process: bool = Field(
        default=True,
        description="Write the request log from a separate process (for a folder, gs:// or "
        "s3:// store), so serving never waits on it.",
    )
    request_log_flush_ms: int = Field(
        default=1000,
        ge=10,
        le=60_000,
        description="Request log flush interval; a SIGKILL loses about this much of the log.",
    )
    request_log_file_ms: int = Field(
        default=5_000,
        ge=0,
        le=3_600_000,
        description="How long request log rows gather before they are written: one Parquet "
        "file per endpoint and interval per worker (sooner once half of "
        "USINA_REQUEST_LOG_MAX_BUFFERED rows wait). Longer means fewer, larger files and less "
        "CPU a row; rows reach the store later. A graceful stop writes everything at once.",
    )
    request_log_max_rows: int = Field(
        default=10_000, ge=1, description="Queued request log rows that trigger an early flush."
    )
    request_log_max_queued: int = Field(
        default=50_000,
        ge=1,
        description="Most request log rows a serving worker queues; new rows beyond are dropped "
        "and counted (reason queue_full).",
    )
    request_log_max_buffered: int = Field(
        default=100_000,
        ge=1,
        description="Most request log rows held for a slow or failing store; new rows beyond "
        "are dropped and counted (reason store_error, or queue_full when the store is only slow).",
    )
    request_log_retry_ms: int = Field(
        default=500,
        ge=10,
        description="First wait before retrying a failed request log write; it doubles per "
        "failure up to USINA_REQUEST_LOG_RETRY_MAX_MS.",
    )
    request_log_retry_max_ms: int = Field(
        default=30_000, ge=10, description="Longest wait between retries of request log writes."
    )
    request_log_writer_nice: int = Field(
        default=5,
        ge=0,
        le=19,
        description="How much the request log's writer process lowers its priority (Unix "
        "niceness): when serving and the writer both want a core, serving gets it. 0 runs it "
        "at the server's priority.",
    )

    request_log_pii_policy: str | None = Field(
        default=None,
        description="A YAML file of PII policies for the request log, by endpoint name ('*' "
        "for every endpoint): what of each request's inputs, outputs and error is redacted, "
        "masked or tokenized before the row is queued (docs/pii.md).",
    )

    pii_key: SecretStr | None = Field(
        default=None,
        description="Base64 of 32 or more random bytes: the key of the PII token, encrypt and "
        "surrogate operators, and of reidentify.",
    )
    pii_key_file: str | None = Field(
        default=None,
        description="A file holding USINA_PII_KEY's value (read when USINA_PII_KEY is unset).",
    )

    smtp_host: str | None = Field(
        default=None,
        description="Alerts: the SMTP server e-mail channels (email:ADDRESS) go through; "
        "e-mail channels are refused while it is unset.",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="Alerts: the SMTP port.")
    smtp_user: str | None = Field(
        default=None, description="Alerts: the SMTP login; none: send without logging in."
    )
    smtp_password: SecretStr | None = Field(
        default=None, description="Alerts: the SMTP password of USINA_SMTP_USER."
    )
    smtp_from: str = Field(
        default="usina@localhost", description="Alerts: the From address of alert e-mail."
    )
    smtp_starttls: bool = Field(
        default=True,
        description="Alerts: upgrade the SMTP connection with STARTTLS (the certificate is "
        "checked) and fail if the server does not offer it; false only for a relay on a "
        "trusted network.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Alerts: the secret that signs webhook bodies (header X-Usina-Signature: "
        "t=TIMESTAMP,v1=HMAC-SHA256 of TIMESTAMP.BODY); unset: webhooks are unsigned.",
    )
    webhook_allow: str = Field(
        default="",
        description="Alerts: comma-separated networks (127.0.0.1/32, 10.0.0.0/8) and host:port "
        "pairs webhooks may reach although private, loopback or link-local; none by default.",
    )
    alert_cooldown: float = Field(
        default=4 * 3600.0,
        ge=0,
        description="Alerts: seconds a firing alert waits before notifying again while its "
        "check stays breached (a reminder).",
    )
    alert_attempts: int = Field(
        default=3, ge=1, le=10, description="Alerts: tries per channel and notification."
    )
    alert_backoff: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Alerts: seconds before the second try of a failed channel; doubles "
        "before each further try.",
    )

    scheduler_interval: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="Seconds between the checks of `usina scheduler` (and of the one `usina "
        "server` starts): schedules due fire, and every policy's loop takes its due decisions.",
    )
    policies: bool = Field(
        default=True,
        description="Whether `usina scheduler` runs the policies' loop (retrain, gate, canary, "
        "promote, roll back) while it leads.",
    )

    def key_ring(self) -> KeyRing | None:
        """The master key ring from ``USINA_MASTER_KEY`` or ``USINA_MASTER_KEY_FILE``; ``None``
        when neither is set (nothing is encrypted)."""
        from usina.crypto.keys import load_key_ring

        value = self.master_key.get_secret_value() if self.master_key else None
        return load_key_ring(value, self.master_key_file)

    def resolved_db_url(self) -> str:
        """The metadata URL, defaulting to ``usina.db`` in the home."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.home.expanduser().absolute() / 'usina.db'}"

    def resolved_config_dir(self) -> Path:
        """Where saved logins live: ``USINA_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/usina``,
        else ``~/.config/usina``."""
        import os

        if self.config_dir is not None:
            return self.config_dir.expanduser()
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(base) / "usina"

    def resolved_topics_url(self) -> str:
        """The topic log's URL, defaulting to the embedded log ``topics.db`` in the home."""
        if self.topics_url:
            return self.topics_url
        return f"sqlite:///{self.home.expanduser().absolute() / 'topics.db'}"

    def resolved_artifacts(self) -> str:
        """The artifact store URI, defaulting to ``artifacts/`` in the home."""
        if self.artifacts:
            return self.artifacts
        return str(self.home.expanduser().absolute() / "artifacts")


def describe_invalid(exc: ValidationError) -> str:
    """One line per refused ``USINA_*`` value, naming the variable, the value and the rule."""
    lines = []
    for err in exc.errors():
        name = "USINA_" + "_".join(str(p) for p in err["loc"]).upper()
        lines.append(f"{name}={err.get('input')!r}: {err['msg']}; fix or unset it")
    return "\n".join(lines)
