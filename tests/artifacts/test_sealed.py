"""Encryption at rest in the artifact store: every backend wrapped in the sealing layer keeps
the whole artifact contract, stores no plaintext, keeps plaintext digests, reads values written
before encryption was on, and fails closed without the key."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from usina.artifacts import download, open_artifact_store, put_bytes, put_file, read_bytes
from usina.artifacts.fsspec import FsspecArtifactStore
from usina.artifacts.memory import MemoryArtifactStore
from usina.artifacts.sealed import SealedArtifactStore, refuse_sealed
from usina.crypto import KeyRing, generate_key
from usina.errors import IntegrityError, KeyUnavailable
from usina.testing import check_artifact_store

RING = KeyRing.parse(generate_key("k1"))
SECRET = b"confidential-model-bytes " * 1000


def test_every_backend_keeps_the_contract_when_sealed(tmp_path: Path) -> None:
    check_artifact_store(lambda: SealedArtifactStore(MemoryArtifactStore(), RING))
    check_artifact_store(lambda: open_artifact_store(str(tmp_path / "root"), RING))
    bucket = f"memory://sealed-{os.getpid()}/prefix"
    check_artifact_store(lambda: SealedArtifactStore(FsspecArtifactStore(bucket), RING))


def test_no_plaintext_is_stored_and_digests_are_of_the_plaintext(tmp_path: Path) -> None:
    plain = open_artifact_store(str(tmp_path / "plain"))
    sealed = open_artifact_store(str(tmp_path / "sealed"), RING)
    assert put_bytes(sealed, SECRET) == put_bytes(plain, SECRET)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 << 20) + SECRET)
    blob = put_file(sealed, source)
    assert download(sealed, blob.digest, tmp_path / "back.bin").read_bytes() == source.read_bytes()
    sealed.write("reports/notes.txt", io.BytesIO(SECRET))
    for path in (tmp_path / "sealed").rglob("*"):
        if path.is_file():
            assert b"confidential-model-bytes" not in path.read_bytes(), path
    assert read_bytes(sealed, put_bytes(plain, SECRET).digest) == SECRET
    # A blob key still takes only its own digest's bytes.
    with pytest.raises(IntegrityError, match="must name its own digest"):
        sealed.write("sha256/00/" + "0" * 64, SECRET)
    with pytest.raises(IntegrityError, match="must name its own digest"):
        sealed.write("sha256/00/" + "0" * 64, io.BytesIO(SECRET))
    assert not sealed.exists("sha256/00/" + "0" * 64)


def test_an_object_store_takes_sealed_blobs(tmp_path: Path) -> None:
    # fsspec's in-memory filesystem stands in for GCS and S3: same code path, other transport.
    store = SealedArtifactStore(FsspecArtifactStore(f"memory://sealed-blobs-{os.getpid()}/x"), RING)
    blob = put_bytes(store, SECRET)
    source = tmp_path / "f.bin"
    source.write_bytes(SECRET + b"!")
    assert read_bytes(store, put_file(store, source).digest) == SECRET + b"!"
    assert read_bytes(store, blob.digest) == SECRET


def test_values_written_before_encryption_stay_readable(tmp_path: Path) -> None:
    root = str(tmp_path / "a")
    before = put_bytes(open_artifact_store(root), SECRET)
    after = open_artifact_store(root, RING)
    assert read_bytes(after, before.digest) == SECRET
    with after.open("sha256/" + before.digest[:2] + "/" + before.digest) as f:
        assert f.read() == SECRET


def test_without_the_key_a_sealed_value_fails_closed_naming_the_key(tmp_path: Path) -> None:
    root = str(tmp_path / "a")
    blob = put_bytes(open_artifact_store(root, RING), SECRET)
    no_key = open_artifact_store(root)
    with pytest.raises(KeyUnavailable, match=r"encrypted with key 'k1'.*USINA_MASTER_KEY"):
        read_bytes(no_key, blob.digest)
    with pytest.raises(KeyUnavailable, match="encrypted with key 'k1'"):
        download(no_key, blob.digest, tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()
    files = [p for p in (tmp_path / "a").rglob("*") if p.is_file()]
    with pytest.raises(KeyUnavailable, match="encrypted with key 'k1'"):
        refuse_sealed(files)
    other = open_artifact_store(root, KeyRing.parse(generate_key("k2")))
    with pytest.raises(KeyUnavailable, match=r"key 'k1'.*does not hold"):
        read_bytes(other, blob.digest)
    wrong = open_artifact_store(root, KeyRing.parse(generate_key("k1")))
    with pytest.raises(KeyUnavailable, match="does not decrypt with key 'k1'"):
        read_bytes(wrong, blob.digest)
