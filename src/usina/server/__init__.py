"""The management server: the REST API over tracking, the registry and artifacts, and every
endpoint's inference routes (those of ``usina serve``, at the same paths).

``usina server`` runs it; ``create_app(ServerConfig(...))`` builds the ASGI app for tests and
embedding. Later, security and the web UI mount onto this app.
"""

from usina.server.app import ServerConfig, create_app

__all__ = ["ServerConfig", "create_app"]
