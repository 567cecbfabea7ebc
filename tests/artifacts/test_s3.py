"""The object-store backend on a real S3-compatible server (moto's, started here).

Every artifact test here talks S3 over HTTP to ``moto.server`` on a loopback port; the
interrupted-upload tests check that nothing ever appears under the final key.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("s3fs", reason="the s3 extra is not installed")
pytest.importorskip("moto.server", reason="moto[server] (dev extra) is not installed")

from usina.artifacts import blob_key, open_artifact_store, put_bytes
from usina.artifacts.fsspec import UPLOADS, FsspecArtifactStore
from usina.testing import check_artifact_store

RESOURCES = Path(__file__).parents[1] / "resources"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    try:
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"moto.server exited with {server.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto.server did not listen within 60 s") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _options(endpoint: str) -> dict[str, Any]:
    return {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        # S3's smallest part: bodies of a few MiB already go up as multipart uploads.
        "default_block_size": 5 << 20,
    }


@pytest.fixture
def s3_store(s3_endpoint: str) -> Callable[[], FsspecArtifactStore]:
    """A factory of stores, each in a new bucket, opened by URI as users do."""

    def make() -> FsspecArtifactStore:
        bucket = f"usina-{uuid.uuid4().hex[:12]}"
        store = open_artifact_store(f"s3://{bucket}/prefix", **_options(s3_endpoint))
        assert isinstance(store, FsspecArtifactStore)
        store._fs.call_s3("create_bucket", Bucket=bucket)
        return store

    return make


def test_s3_store_keeps_the_contract(s3_store: Callable[[], FsspecArtifactStore]) -> None:
    check_artifact_store(s3_store)


class Breaking:
    """A body that gives ``good`` bytes, then fails as a dropped connection would."""

    def __init__(self, good: int) -> None:
        self.left = good

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            raise ConnectionResetError("the client went away")
        chunk = b"y" * min(1 << 20, self.left)
        self.left -= len(chunk)
        return chunk


@pytest.mark.parametrize("good", [2 << 20, 7 << 20], ids=["single-put", "multipart"])
def test_a_body_that_fails_midway_leaves_nothing(
    s3_store: Callable[[], FsspecArtifactStore], good: int
) -> None:
    store = s3_store()
    whole = b"y" * (good + (1 << 20))
    key = blob_key(hashlib.sha256(whole).hexdigest())
    with pytest.raises(ConnectionResetError):
        store.write(key, Breaking(good))  # type: ignore[arg-type]
    assert not store.exists(key)
    assert store.list() == []
    bucket = store.uri.removeprefix("s3://").split("/")[0]
    assert store._fs.list_multipart_uploads(bucket) == []
    # The same bytes written whole afterwards are stored (put_bytes would not skip them).
    assert put_bytes(store, whole).digest == key.rsplit("/", 1)[1]
    assert store.open(key).read() == whole


def test_a_stream_that_does_not_match_its_blob_key_is_not_published(
    s3_store: Callable[[], FsspecArtifactStore],
) -> None:
    store = s3_store()
    key = blob_key(hashlib.sha256(b"promised").hexdigest())
    with pytest.raises(Exception, match="hash to sha256"):
        store.write(key, io.BytesIO(b"something else"))
    with pytest.raises(Exception, match="hash to sha256"):
        store.write(key, b"something else")
    assert not store.exists(key)
    assert store.list() == []


def test_an_upload_killed_midway_leaves_nothing_under_its_key(
    s3_endpoint: str, s3_store: Callable[[], FsspecArtifactStore]
) -> None:
    store = s3_store()
    bucket = store.uri.removeprefix("s3://").split("/")[0]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    uploader = subprocess.Popen(
        [
            sys.executable,
            str(RESOURCES / "killed_upload.py"),
            s3_endpoint,
            store.uri,
            "models/big.bin",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    said: list[bytes] = []
    reader = threading.Thread(target=lambda: said.append(uploader.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(60)
    try:
        assert said == [b"sent\n"], uploader.stderr.read() if uploader.poll() is not None else said  # type: ignore[union-attr]
        # A part of the body is on the server, in an upload that was never completed.
        uploads = store._fs.list_multipart_uploads(bucket)
        assert [u["Key"].split("/")[1] for u in uploads] == [UPLOADS]
    finally:
        uploader.kill()
        uploader.wait()
        uploader.stdout.close()  # type: ignore[union-attr]
        uploader.stderr.close()  # type: ignore[union-attr]
    assert not store.exists("models/big.bin")
    assert store.list() == []
