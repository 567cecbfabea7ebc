"""Monitoring tests share the live server of ``tests/server``."""

from __future__ import annotations

import server.conftest as server_fixtures

serve_app = server_fixtures.serve_app
live_server = server_fixtures.live_server
remote_factory = server_fixtures.remote_factory
