"""Sealing: AES-256-GCM in a framed, chunked format, so large values stream in bounded memory.

A sealed value is::

    MAGIC (8 bytes) | key id length (1) | key id | salt (16) | chunk size (4, big-endian)
    then chunks: length (4, big-endian; the top bit marks the last chunk) | ciphertext + tag

Each value gets its own AES-256 key, derived from the master key and the value's random salt
with HKDF-SHA256, so chunk nonces can be a plain counter (never reused under one key). Every
chunk is authenticated together with the header, its position and whether it is the last, so
reordered, dropped, truncated or appended chunks fail to open, as does a wrong master key.
Readers hold one chunk (64 KiB) at a time.

Example:
    >>> from usina.crypto.keys import KeyRing
    >>> ring = KeyRing({"k1": bytes(32)})
    >>> sealed = seal_bytes(ring, b"hello", b"name")
    >>> sealed.startswith(MAGIC), open_bytes(ring, sealed, b"name")
    (True, b'hello')
"""

from __future__ import annotations

import io
import os
import struct
from typing import Any, BinaryIO

from usina.crypto.keys import KeyProvider
from usina.errors import IntegrityError, KeyUnavailable

MAGIC = b"USEAL\x00\x01\n"
CHUNK = 64 * 1024
SALT_BYTES = 16
TAG_BYTES = 16
_LAST = 0x8000_0000
_MAX_CHUNK = 16 * 1024 * 1024
_INFO = b"usina seal v1"


def is_sealed(prefix: bytes) -> bool:
    """Whether bytes starting with ``prefix`` are a sealed value."""
    return prefix[: len(MAGIC)] == MAGIC


def _cipher(master: bytes, salt: bytes) -> Any:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(master)
    return AESGCM(derived)


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class SealingReader(io.RawIOBase):
    """Reads as the sealed form of ``source`` (a binary stream), sealing as it is read."""

    def __init__(
        self, keys: KeyProvider, source: BinaryIO, associated: bytes = b"", chunk: int = CHUNK
    ) -> None:
        key_id = keys.current_key_id
        salt = os.urandom(SALT_BYTES)
        self._header = (
            MAGIC + bytes([len(key_id)]) + key_id.encode() + salt + struct.pack(">I", chunk)
        )
        self._aad = self._header + associated
        self._aes = _cipher(keys.key(key_id), salt)
        self._source = source
        self._chunk = chunk
        self._counter = 0
        self._pending = self._header
        self._ahead = _read_full(source, chunk)
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._done:
            self._pending = self._next_frame()
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _next_frame(self) -> bytes:
        current = self._ahead
        self._ahead = _read_full(self._source, self._chunk) if current else b""
        last = not self._ahead
        aad = self._aad + struct.pack(">Q?", self._counter, last)
        sealed = self._aes.encrypt(_nonce(self._counter, last), current, aad)
        self._counter += 1
        self._done = last
        return struct.pack(">I", len(sealed) | (_LAST if last else 0)) + sealed


class OpeningReader(io.RawIOBase):
    """Reads as the plaintext of the sealed stream ``source``, checking every chunk."""

    def __init__(
        self, keys: KeyProvider, source: BinaryIO, associated: bytes = b"", name: str = ""
    ) -> None:
        self._source = source
        self._name = name or "the value"
        magic = _read_full(source, len(MAGIC) + 1)
        if not is_sealed(magic) or len(magic) < len(MAGIC) + 1:
            raise IntegrityError(f"{self._name} is not a sealed value")
        key_id_bytes = _read_full(source, magic[-1])
        rest = _read_full(source, SALT_BYTES + 4)
        if len(key_id_bytes) != magic[-1] or len(rest) != SALT_BYTES + 4:
            raise IntegrityError(f"{self._name} is cut short: its header is incomplete")
        self.key_id = key_id_bytes.decode("ascii", "replace")
        salt, (chunk,) = rest[:SALT_BYTES], struct.unpack(">I", rest[SALT_BYTES:])
        header = magic + key_id_bytes + rest
        self._aad = header + associated
        self._limit = min(chunk, _MAX_CHUNK) + TAG_BYTES
        self._aes = _cipher(keys.key(self.key_id), salt)
        self._source_keys = keys
        self._counter = 0
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._done:
            self._pending = self._next_chunk()
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _next_chunk(self) -> bytes:
        from cryptography.exceptions import InvalidTag

        head = _read_full(self._source, 4)
        if len(head) < 4:
            raise IntegrityError(f"{self._name} is cut short: its last chunk is missing")
        (word,) = struct.unpack(">I", head)
        last, size = bool(word & _LAST), word & ~_LAST
        if size > self._limit or size < TAG_BYTES:
            raise IntegrityError(f"{self._name} is damaged: a chunk has an impossible length")
        body = _read_full(self._source, size)
        if len(body) < size:
            raise IntegrityError(f"{self._name} is cut short in chunk {self._counter}")
        aad = self._aad + struct.pack(">Q?", self._counter, last)
        try:
            plain: bytes = self._aes.decrypt(_nonce(self._counter, last), body, aad)
        except InvalidTag:
            raise KeyUnavailable(
                f"{self._name} does not decrypt with key {self.key_id!r}: "
                f"{getattr(self._source_keys, 'source', 'the master key')} holds a different "
                f"key under that id, or the stored bytes were altered"
            ) from None
        self._counter += 1
        if last:
            self._done = True
            if self._source.read(1):
                raise IntegrityError(f"{self._name} has bytes after its last chunk")
        return plain

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()


def seal_bytes(keys: KeyProvider, data: bytes, associated: bytes = b"") -> bytes:
    """``data`` sealed with the current key, bound to ``associated`` (needed to open it)."""
    return SealingReader(keys, io.BytesIO(data), associated).readall()


def open_bytes(keys: KeyProvider, sealed: bytes, associated: bytes = b"", name: str = "") -> bytes:
    """The plaintext of ``sealed``; ``KeyUnavailable`` for a wrong or missing key."""
    return OpeningReader(keys, io.BytesIO(sealed), associated, name).readall()


def sealed_key_id(prefix: bytes) -> str | None:
    """The id of the key that sealed a value starting with ``prefix``, if it is one."""
    if not is_sealed(prefix) or len(prefix) <= len(MAGIC):
        return None
    size = prefix[len(MAGIC)]
    return prefix[len(MAGIC) + 1 : len(MAGIC) + 1 + size].decode("ascii", "replace")


def _read_full(source: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end of ``source``."""
    parts = []
    while size > 0:
        part = source.read(size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)
