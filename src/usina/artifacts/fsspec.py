"""Artifacts in an object store (``gs://``, ``s3://``) through fsspec.

The cloud filesystems come from extras (``pip install 'usina[gcs]'`` or ``'usina[s3]'``) and are
imported only when such a store is opened.

How a value is published, so that no reader ever finds a partial one under its key (which
matters doubly for blobs, since ``put_bytes`` and ``put_file`` skip keys that exist):

- bytes already in memory are hashed first, so a ``sha256/...`` key is checked before anything
  is sent; then one ``pipe_file`` request stores them, and object stores publish a single
  upload whole or not at all;
- a stream is uploaded under a temporary key, ``<prefix>/.uploads!/<random>`` (a name no key
  can take), hashed as it goes. Only when the body ended normally, the stored size matches
  what was read and a ``sha256/...`` key matches the digest is the object copied to its key
  (a server-side copy, which publishes whole), and the temporary object is removed. A body
  that fails midway aborts the upload; a process killed midway leaves at most a temporary
  object or an unfinished multipart upload, never anything under the key. Bucket lifecycle
  rules ("abort incomplete multipart uploads", "expire objects under .uploads!/") clean those.

The tests run this backend over fsspec's in-memory filesystem and over S3 (a local
S3-compatible server); GCS goes through the same code but is not exercised by the tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from typing import Any, BinaryIO

from usina.artifacts.keys import check_key
from usina.errors import IntegrityError, MissingDependency, NotFound

CHUNK = 1 << 20
UPLOADS = ".uploads!"
_EXTRA = {"gs": "gcs", "gcs": "gcs", "s3": "s3"}
_BLOB_KEY = re.compile(r"sha256/[0-9a-f]{2}/([0-9a-f]{64})")


class FsspecArtifactStore:
    """Keys are objects under ``uri`` (``gs://bucket/prefix``)."""

    def __init__(self, uri: str, **storage_options: Any) -> None:
        import fsspec

        self.uri = uri.rstrip("/")
        # Off under encryption at rest, whose layer checks a blob's plaintext digest itself.
        self.verify_blob_digests = True
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
            value = bytes(data)
            if self.verify_blob_digests:
                _check_digest(key, hashlib.sha256(value).hexdigest())
            self._fs.pipe_file(path, value)
            return
        upload = f"{self._base}/{UPLOADS}/{uuid.uuid4().hex}"
        try:
            digest, size = self._upload(upload, data)
            stored = self._fs.info(upload)["size"]
            if stored != size:
                raise IntegrityError(
                    f"the upload of {key!r} stored {stored} bytes of {size}; it was not "
                    "published, write it again"
                )
            if self.verify_blob_digests:
                _check_digest(key, digest)
            self._fs.copy(upload, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                self._fs.rm_file(upload)

    def _upload(self, upload: str, data: BinaryIO) -> tuple[str, int]:
        sha = hashlib.sha256()
        size = 0
        out = self._fs.open(upload, "wb")
        try:
            while chunk := data.read(CHUNK):
                sha.update(chunk)
                size += len(chunk)
                out.write(chunk)
        except BaseException:
            _abandon(out)
            raise
        out.close()
        return sha.hexdigest(), size

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
        keys = (p.lstrip("/")[len(root) :] for p in self._fs.find(base))
        return sorted(k for k in keys if not k.startswith(f"{UPLOADS}/"))


def _check_digest(key: str, digest: str) -> None:
    """A ``sha256/ab/<digest>`` key takes only bytes with that digest."""
    match = _BLOB_KEY.fullmatch(key)
    if match and match.group(1) != digest:
        raise IntegrityError(
            f"the bytes written to {key!r} hash to sha256:{digest[:12]}...; a blob key must "
            "name its own digest, so nothing was published"
        )


def _abandon(out: Any) -> None:
    """Throw an unfinished upload away without publishing what it has so far."""
    with contextlib.suppress(Exception):
        out.discard()  # s3fs aborts its multipart upload here
    # fsspec files close on garbage collection, and closing commits: mark it closed instead.
    with contextlib.suppress(AttributeError):
        out.closed = True
