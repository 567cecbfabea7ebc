"""The artifact backends, by URI scheme: reading this file tells what exists."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from usina.artifacts.base import ArtifactStore
from usina.errors import InvalidInput

if TYPE_CHECKING:
    from usina.crypto.keys import KeyProvider

BACKENDS: dict[str, str] = {
    "file": "usina.artifacts.local:FileArtifactStore",
    "memory": "usina.artifacts.memory:MemoryArtifactStore",
    "gs": "usina.artifacts.fsspec:FsspecArtifactStore",
    "gcs": "usina.artifacts.fsspec:FsspecArtifactStore",
    "s3": "usina.artifacts.fsspec:FsspecArtifactStore",
    "http": "usina.artifacts.http:HttpArtifactStore",
    "https": "usina.artifacts.http:HttpArtifactStore",
}


def open_artifact_store(uri: str, keys: KeyProvider | None = None, **options: Any) -> ArtifactStore:
    """Open the store for ``uri``: a folder, ``file://``, ``memory://``, ``gs://``, ``s3://``, or
    a usina server (``http://``, ``https://``).

    With ``keys``, every value is encrypted at rest (``usina.artifacts.sealed``); a usina
    server's store is not wrapped, since the server encrypts with its own keys."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        scheme, rest = "file", uri
    target = BACKENDS.get(scheme)
    if target is None:
        known = ", ".join(f"{s}://" for s in BACKENDS)
        raise InvalidInput(
            f"unknown artifact store scheme {scheme!r} in {uri!r}; use a folder or one of {known}",
            field="artifacts",
        )
    module, _, name = target.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if scheme in ("http", "https"):
        return cls(uri)
    store = cls(rest) if scheme in ("file", "memory") else cls(uri, **options)
    if keys is None:
        return store
    from usina.artifacts.sealed import SealedArtifactStore

    return SealedArtifactStore(store, keys)
