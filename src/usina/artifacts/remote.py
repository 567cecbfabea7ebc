"""Artifacts in an object store (``gs://``, ``s3://``) through fsspec.

The cloud filesystems come from extras (``pip install 'usina[gcs]'`` or ``'usina[s3]'``) and are
imported only when such a store is opened. Object stores publish an object whole when its upload
completes, which gives the same atomicity as the local rename. The tests run this backend over
fsspec's in-memory filesystem; the GCS and S3 transports themselves are not exercised here.
"""

from __future__ import annotations

from typing import Any, BinaryIO

from usina.artifacts.keys import check_key
from usina.errors import MissingDependency, NotFound

CHUNK = 1 << 20
_EXTRA = {"gs": "gcs", "gcs": "gcs", "s3": "s3"}


class FsspecArtifactStore:
    """Keys are objects under ``uri`` (``gs://bucket/prefix``)."""

    def __init__(self, uri: str, **storage_options: Any) -> None:
        import fsspec

        self.uri = uri.rstrip("/")
        protocol, _, self._base = self.uri.partition("://")
        try:
            self._fs = fsspec.filesystem(protocol, **storage_options)
        except ImportError as exc:
            extra = _EXTRA.get(protocol, protocol)
            raise MissingDependency(
                f"the {protocol}:// artifact store needs an extra: pip install 'usina[{extra}]'"
            ) from exc

    def _path(self, key: str) -> str:
        return f"{self._base}/{check_key(key)}"

    def write(self, key: str, data: bytes | BinaryIO) -> None:
        path = self._path(key)
        if isinstance(data, bytes | bytearray | memoryview):
            self._fs.pipe_file(path, bytes(data))
            return
        with self._fs.open(path, "wb") as out:
            while chunk := data.read(CHUNK):
                out.write(chunk)

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return self._fs.open(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"no artifact at {key!r} in {self.uri}", field="key") from None

    def exists(self, key: str) -> bool:
        return bool(self._fs.isfile(self._path(key)))

    def delete(self, key: str) -> None:
        path = self._path(key)
        if self._fs.exists(path):
            self._fs.rm_file(path)

    def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix else self._base
        if not self._fs.exists(base):
            return []
        root = self._base.lstrip("/") + "/"
        found = self._fs.find(base)
        return sorted(p.lstrip("/")[len(root) :] for p in found)
