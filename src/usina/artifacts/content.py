"""Content addressing: values stored under their SHA-256 digest and verified when read."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from usina.artifacts.base import ArtifactStore
from usina.errors import IntegrityError, InvalidInput

CHUNK = 1 << 20
_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Blob:
    """A stored value: its SHA-256 hex digest and size in bytes."""

    digest: str
    size: int


def blob_key(digest: str) -> str:
    """The key a digest is stored under (``sha256/ab/abcd...``)."""
    if not _DIGEST.fullmatch(digest):
        raise InvalidInput(f"{digest!r} is not a SHA-256 hex digest", field="digest")
    return f"sha256/{digest[:2]}/{digest}"


def put_bytes(store: ArtifactStore, data: bytes) -> Blob:
    """Store ``data`` under its digest (a no-op when already there)."""
    digest = hashlib.sha256(data).hexdigest()
    key = blob_key(digest)
    if not store.exists(key):
        store.write(key, data)
    return Blob(digest, len(data))


def put_file(store: ArtifactStore, path: str | os.PathLike[str]) -> Blob:
    """Store the file at ``path`` under its digest, streaming it in chunks."""
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
        digest = sha.hexdigest()
        key = blob_key(digest)
        if not store.exists(key):
            f.seek(0)
            store.write(key, f)
    return Blob(digest, size)


def put_stream(store: ArtifactStore, stream: BinaryIO) -> Blob:
    """Store a stream of unknown digest: spool it to a temporary file, then ``put_file``."""
    with tempfile.NamedTemporaryFile(prefix="usina-spool-") as tmp:
        while chunk := stream.read(CHUNK):
            tmp.write(chunk)
        tmp.flush()
        return put_file(store, tmp.name)


def read_bytes(store: ArtifactStore, digest: str) -> bytes:
    """Read a blob whole and check its digest; ``IntegrityError`` if the bytes changed."""
    with store.open(blob_key(digest)) as f:
        data = f.read()
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        _refuse_sealed(digest, data)
        raise IntegrityError(
            f"artifact sha256:{digest[:12]}... is corrupted (its bytes hash to "
            f"sha256:{actual[:12]}...); restore it from a backup or register the model again"
        )
    return data


def download(store: ArtifactStore, digest: str, dest: str | os.PathLike[str]) -> Path:
    """Copy a blob to ``dest``, verifying its digest before the file appears there."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.tmp-")
    try:
        head = b""
        with os.fdopen(fd, "wb") as out, store.open(blob_key(digest)) as src:
            while chunk := src.read(CHUNK):
                head = head or chunk[:128]
                sha.update(chunk)
                out.write(chunk)
        if sha.hexdigest() != digest:
            _refuse_sealed(digest, head)
            raise IntegrityError(f"artifact sha256:{digest[:12]}... is corrupted; not written")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def _refuse_sealed(digest: str, head: bytes) -> None:
    """A blob that does not match its digest because it is sealed and no key opened it."""
    from usina.artifacts.sealed import missing_key
    from usina.crypto.sealing import sealed_key_id

    key_id = sealed_key_id(head)
    if key_id is not None:
        raise missing_key(f"artifact sha256:{digest[:12]}...", key_id)
