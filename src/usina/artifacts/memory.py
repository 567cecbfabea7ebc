"""Artifacts in a dict, for tests and throw-away sessions."""

from __future__ import annotations

import io
import threading
from typing import BinaryIO

from usina.artifacts.keys import check_key
from usina.errors import NotFound


class MemoryArtifactStore:
    """Keys in a process-local dict; gone when the process ends."""

    def __init__(self, name: str = "") -> None:
        self.uri = f"memory://{name}"
        self._data: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def write(self, key: str, data: bytes | BinaryIO) -> None:
        check_key(key)
        value = bytes(data) if isinstance(data, bytes | bytearray | memoryview) else data.read()
        with self._lock:
            self._data[key] = value

    def open(self, key: str) -> BinaryIO:
        check_key(key)
        with self._lock:
            if key not in self._data:
                raise NotFound(f"no artifact at {key!r} in {self.uri}", field="key")
            return io.BytesIO(self._data[key])

    def exists(self, key: str) -> bool:
        check_key(key)
        with self._lock:
            return key in self._data

    def delete(self, key: str) -> None:
        check_key(key)
        with self._lock:
            self._data.pop(key, None)

    def list(self, prefix: str = "") -> list[str]:
        if prefix:
            check_key(prefix.rstrip("/"))
            prefix = prefix.rstrip("/") + "/"
        with self._lock:
            return sorted(k for k in self._data if k.startswith(prefix))
