"""The management server: the REST API over tracking, the registry and artifacts.

``usina server`` runs it; ``create_app(ServerConfig(...))`` builds the ASGI app for tests and
embedding. Later, security, the web UI and online serving mount onto this app.
"""

from usina.server.app import ServerConfig, create_app

__all__ = ["ServerConfig", "create_app"]
