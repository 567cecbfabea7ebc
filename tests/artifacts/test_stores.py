"""Every artifact backend keeps the same contract; keys never escape the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from usina.artifacts import open_artifact_store, put_bytes
from usina.artifacts.fsspec import FsspecArtifactStore
from usina.artifacts.local import FileArtifactStore
from usina.artifacts.memory import MemoryArtifactStore
from usina.errors import InvalidInput, InvalidKey
from usina.testing import TRAVERSAL_KEYS, check_artifact_store


def test_file_store_keeps_the_contract(tmp_path: Path) -> None:
    check_artifact_store(lambda: FileArtifactStore(tmp_path / "root"))


def test_memory_store_keeps_the_contract() -> None:
    check_artifact_store(MemoryArtifactStore)


def test_object_store_backend_keeps_the_contract() -> None:
    # fsspec's in-memory filesystem stands in for GCS and S3: same code path, other transport.
    check_artifact_store(lambda: FsspecArtifactStore(f"memory://bucket-{os.getpid()}/prefix"))


def test_uri_schemes_choose_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_artifact_store(str(tmp_path)), FileArtifactStore)
    assert isinstance(open_artifact_store(f"file://{tmp_path}"), FileArtifactStore)
    assert isinstance(open_artifact_store("memory://"), MemoryArtifactStore)
    with pytest.raises(InvalidInput, match="unknown artifact store scheme 'ftp'"):
        open_artifact_store("ftp://host/x")


def test_traversal_never_touches_files_outside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = FileArtifactStore(root)
    store.write("inside.txt", b"ok")
    canary = tmp_path / "escape"
    canary.write_bytes(b"canary")
    for key in TRAVERSAL_KEYS:
        with pytest.raises(InvalidKey):
            store.write(key, b"overwritten")
        with pytest.raises(InvalidKey):
            store.open(key)
    assert canary.read_bytes() == b"canary"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["escape", "root"]


def test_a_symlink_inside_the_root_cannot_lead_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    store = FileArtifactStore(root)
    with pytest.raises(InvalidKey, match="resolves outside"):
        store.open("link/secret")
    with pytest.raises(InvalidKey, match="resolves outside"):
        store.write("link/planted", b"x")
    assert not (outside / "planted").exists()


def test_an_interrupted_write_leaves_the_old_value(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path)
    store.write("model.bin", b"old")

    class Exploding:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError("disk went away")
            return b"new-partial"

    with pytest.raises(OSError, match="disk went away"):
        store.write("model.bin", Exploding())  # type: ignore[arg-type]
    with store.open("model.bin") as f:
        assert f.read() == b"old"
    assert store.list() == ["model.bin"]
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


def test_blobs_are_stored_under_their_sha256(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path)
    blob = put_bytes(store, b"hello")
    assert blob.digest == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert (tmp_path / "sha256" / "2c" / blob.digest).read_bytes() == b"hello"


def test_key_errors_say_what_is_allowed() -> None:
    with pytest.raises(InvalidKey, match=r"'\.\.' segment"):
        MemoryArtifactStore().write("../x", b"")
    with pytest.raises(InvalidKey, match="no backslashes"):
        MemoryArtifactStore().write("a\\b", b"")
