"""What every command needs: the client for the current settings (or for ``--url``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from usina.client import Client
    from usina.settings import Settings

_client: Client | None = None
_url: str | None = None


def use_url(url: str | None) -> None:
    """Make commands work through the server at ``url`` (the global ``--url`` option)."""
    global _url, _client
    _url = url
    _client = None


def remote_url() -> str | None:
    """The server commands go through: ``--url``, else ``USINA_URL``, else none."""
    if _url:
        return _url
    from usina.settings import Settings

    return Settings().url


def client() -> Client:
    """The client for ``USINA_*`` settings, built once per command. Through a server it sends
    ``USINA_TOKEN``, or else the token ``usina auth login`` saved for that server."""
    global _client
    if _client is None:
        from usina.client import Client

        _client = Client.from_settings(settings())
    return _client


def settings() -> Settings:
    """The ``USINA_*`` settings with ``--url`` and a saved token applied."""
    from usina.settings import Settings

    found = Settings()
    if _url:
        found = found.model_copy(update={"url": _url})
    if found.url and not found.token:
        from usina.cli import credentials

        saved = credentials.load(found.resolved_config_dir(), found.url)
        found = found.model_copy(update={"token": saved})
    return found
