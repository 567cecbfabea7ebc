"""Typed settings, read from ``USINA_*`` environment variables.

Only the edges (the command line, the server, the default client of the top-level API) build a
``Settings``; everything below receives plain values.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    actor: str = Field(default="local", description="Name recorded on every write.")
    heartbeat_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds without a heartbeat after which a running run is marked failed.",
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

    def resolved_db_url(self) -> str:
        """The metadata URL, defaulting to ``usina.db`` in the home."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.home.expanduser().absolute() / 'usina.db'}"

    def resolved_artifacts(self) -> str:
        """The artifact store URI, defaulting to ``artifacts/`` in the home."""
        if self.artifacts:
            return self.artifacts
        return str(self.home.expanduser().absolute() / "artifacts")
