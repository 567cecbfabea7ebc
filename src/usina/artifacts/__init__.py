"""Artifact stores: bytes under keys, chosen by URI scheme, plus content addressing."""

from usina.artifacts.backends import BACKENDS, open_artifact_store
from usina.artifacts.base import ArtifactStore
from usina.artifacts.content import Blob, blob_key, download, put_bytes, put_file, read_bytes
from usina.artifacts.keys import check_key

__all__ = [
    "BACKENDS",
    "ArtifactStore",
    "Blob",
    "blob_key",
    "check_key",
    "download",
    "open_artifact_store",
    "put_bytes",
    "put_file",
    "read_bytes",
]
