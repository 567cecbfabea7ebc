"""A bare keep-alive HTTP client for tests that send thousands of requests."""

from __future__ import annotations

import http.client


class FastClient:
    """A keep-alive HTTP/1.1 connection for high-volume loops (httpx costs ~1 ms a request)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def post(self, path: str, body: bytes) -> tuple[int, str | None, bytes]:
        """(status, version header, body) of one JSON POST."""
        self.conn.request("POST", path, body, {"Content-Type": "application/json"})
        response = self.conn.getresponse()
        return response.status, response.getheader("usina-model-version"), response.read()

    def close(self) -> None:
        self.conn.close()
