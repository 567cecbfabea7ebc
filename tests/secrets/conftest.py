"""Fixtures of the secret tests: the API served in a uvicorn thread, as the server tests do."""

from server.conftest import serve_app

__all__ = ["serve_app"]
