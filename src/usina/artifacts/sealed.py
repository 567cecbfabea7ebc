"""Encryption at rest for any artifact store: every value written is sealed with AES-256-GCM
(``usina.crypto.sealing``), and every value read is opened again, so callers see plaintext.

Keys stay what they were, and a ``sha256/...`` key still names the digest of the plaintext, so
content addressing is unchanged: this store checks that digest itself before sealing, since
the stored bytes no longer hash to it. Values written before encryption was turned on (no
seal at their start) are read as they are; a sealed value whose key is missing or wrong fails
with ``KeyUnavailable``, never with garbage.

A store without a key is not wrapped; readers that take a local folder's files in place
(DuckDB over the request log and batch tables) call :func:`refuse_sealed` first, so a sealed
file read without its key fails with the same clear error.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterable
from typing import BinaryIO

from usina.artifacts.base import ArtifactStore
from usina.crypto.keys import ENV_KEY, KeyProvider
from usina.crypto.sealing import MAGIC, OpeningReader, SealingReader, sealed_key_id
from usina.errors import IntegrityError, KeyUnavailable

CHUNK = 1 << 20
_BLOB_KEY = re.compile(r"sha256/[0-9a-f]{2}/([0-9a-f]{64})")
# The header of a sealed value: magic, key id length, key id (at most 64 bytes).
_PEEK = len(MAGIC) + 1 + 64


class SealedArtifactStore:
    """``inner`` with every value sealed under ``keys``' current key.

    Example:
        >>> from usina.artifacts.memory import MemoryArtifactStore
        >>> from usina.crypto import KeyRing
        >>> inner = MemoryArtifactStore()
        >>> store = SealedArtifactStore(inner, KeyRing({"k1": bytes(32)}))
        >>> store.write("notes.txt", b"private")
        >>> store.open("notes.txt").read(), b"private" in inner.open("notes.txt").read()
        (b'private', False)
    """

    # Readers that would open a local folder's files in place find no root, and go through
    # ``open`` instead, which decrypts.
    root = None

    def __init__(self, inner: ArtifactStore, keys: KeyProvider) -> None:
        # This layer checks a blob's digest on the plaintext; the stored bytes hash otherwise.
        if hasattr(inner, "verify_blob_digests"):
            inner.verify_blob_digests = False
        self.inner = inner
        self.keys = keys
        self.uri = inner.uri

    def write(self, key: str, data: bytes | BinaryIO) -> None:
        match = _BLOB_KEY.fullmatch(key)
        if isinstance(data, bytes | bytearray | memoryview):
            if match:
                _check_digest(key, match.group(1), hashlib.sha256(data).hexdigest())
            self.inner.write(key, SealingReader(self.keys, io.BytesIO(bytes(data))).readall())
            return
        if not match:
            self.inner.write(key, io.BufferedReader(SealingReader(self.keys, data), CHUNK))
            return
        # A blob's digest is known only once the stream has been read: spool it, hashing.
        sha = hashlib.sha256()
        with tempfile.TemporaryFile(prefix="usina-seal-") as spool:
            while chunk := data.read(CHUNK):
                sha.update(chunk)
                spool.write(chunk)
            _check_digest(key, match.group(1), sha.hexdigest())
            spool.seek(0)
            self.inner.write(key, io.BufferedReader(SealingReader(self.keys, spool), CHUNK))

    def open(self, key: str) -> BinaryIO:
        stream = self.inner.open(key)
        head = _peek(stream)
        if not head.startswith(MAGIC):
            return stream  # written before encryption was turned on
        try:
            return io.BufferedReader(
                OpeningReader(self.keys, stream, name=f"artifact {key!r}"), CHUNK
            )
        except BaseException:
            stream.close()
            raise

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def list(self, prefix: str = "") -> list[str]:
        return self.inner.list(prefix)


def refuse_sealed(paths: Iterable[str | os.PathLike[str]]) -> None:
    """``KeyUnavailable`` if any file at ``paths`` is sealed: it cannot be read in place."""
    for path in paths:
        with open(path, "rb") as f:
            head = f.read(_PEEK)
        key_id = sealed_key_id(head)
        if key_id is not None:
            raise missing_key(os.fspath(path), key_id)


def missing_key(what: str, key_id: str) -> KeyUnavailable:
    """The error for a sealed value read with no master key configured."""
    return KeyUnavailable(
        f"{what} is encrypted with key {key_id!r} and no master key is configured; set "
        f"{ENV_KEY} (or USINA_MASTER_KEY_FILE) to the key ring that holds {key_id!r}"
    )


def _peek(stream: BinaryIO) -> bytes:
    """The first bytes of ``stream``, leaving it where it was."""
    peek = getattr(stream, "peek", None)
    if peek is not None:
        head: bytes = peek(len(MAGIC))[: len(MAGIC)]
        if len(head) >= len(MAGIC):
            return head
    if stream.seekable():
        position = stream.tell()
        head = stream.read(len(MAGIC))
        stream.seek(position)
        return head
    raise IntegrityError("the artifact store gave a stream that can be neither peeked nor sought")


def _check_digest(key: str, expected: str, actual: str) -> None:
    if expected != actual:
        raise IntegrityError(
            f"the bytes written to {key!r} hash to sha256:{actual[:12]}...; a blob key must "
            "name its own digest, so nothing was published"
        )
