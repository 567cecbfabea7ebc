"""Artifacts kept by a usina server, read and written through its ``/api/v1/artifacts`` routes.

Uploads stream from the caller's file and downloads stream into the caller's reads, so neither
side holds a whole artifact in memory. Digests are checked where the bytes are used
(``read_bytes`` and ``download`` verify them on the client, and the server refuses a
``sha256/...`` upload whose bytes do not hash to its name).
"""

from __future__ import annotations

from typing import BinaryIO

from usina.artifacts.keys import check_key
from usina.connection import ServerConnection, path


class HttpArtifactStore:
    """Keys stored by the server at ``url`` (``http://host:port``)."""

    def __init__(self, server: str | ServerConnection) -> None:
        self.server = server if isinstance(server, ServerConnection) else ServerConnection(server)
        self.uri = self.server.url

    def write(self, key: str, data: bytes | BinaryIO) -> None:
        self.server.call("PUT", f"/artifacts/{path(check_key(key))}", content=data)

    def open(self, key: str) -> BinaryIO:
        return self.server.open(f"/artifacts/{path(check_key(key))}")

    def exists(self, key: str) -> bool:
        return self.server.exists(f"/artifacts/{path(check_key(key))}")

    def delete(self, key: str) -> None:
        self.server.call("DELETE", f"/artifacts/{path(check_key(key))}")

    def list(self, prefix: str = "") -> list[str]:
        if prefix:
            check_key(prefix.rstrip("/"))
        keys: list[str] = []
        offset: int | None = 0
        while offset is not None:
            page = self.server.call(
                "GET",
                "/artifacts",
                params={"prefix": prefix or None, "offset": offset, "limit": 1000},
            )
            keys.extend(page["items"])
            offset = page["next_offset"]
        return keys
