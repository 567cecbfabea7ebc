"""The artifact store protocol every backend implements."""

from __future__ import annotations

from typing import BinaryIO, Protocol, runtime_checkable


@runtime_checkable
class ArtifactStore(Protocol):
    """Bytes under keys, written atomically.

    A reader never sees a half-written value: ``write`` either publishes the whole value or
    leaves the key as it was. Keys are checked with :func:`usina.artifacts.keys.check_key`.

    Example:
        >>> from usina.artifacts import open_artifact_store
        >>> store = open_artifact_store("memory://")
        >>> store.write("reports/a.txt", b"hello")
        >>> store.open("reports/a.txt").read()
        b'hello'
    """

    uri: str

    def write(self, key: str, data: bytes | BinaryIO) -> None:
        """Store ``data`` (bytes or a readable binary stream) under ``key``, atomically."""
        ...

    def open(self, key: str) -> BinaryIO:
        """Open ``key`` for reading; ``NotFound`` if absent."""
        ...

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` (a folder-like prefix, or all keys), sorted."""
        ...
