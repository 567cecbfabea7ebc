"""Fixtures of the policy tests: the live server fixtures of ``tests/server`` and the real SMTP
server of ``tests/monitoring``."""

from monitoring.conftest import smtp_server
from server.conftest import live_server, remote_factory, serve_app, start_server

__all__ = ["live_server", "remote_factory", "serve_app", "smtp_server", "start_server"]
