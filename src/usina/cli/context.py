"""What every command needs: the client for the current settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from usina.client import Client

_client: Client | None = None


def client() -> Client:
    """The client for ``USINA_*`` settings, built once per command."""
    global _client
    if _client is None:
        from usina.client import Client
        from usina.settings import Settings

        _client = Client.from_settings(Settings())
    return _client
