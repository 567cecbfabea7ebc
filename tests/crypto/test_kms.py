"""Master keys kept by AWS KMS, against moto's KMS server on a loopback port: a wrapped key
made by `usina keys generate --aws-kms` unwraps when the ring is read, opens what it sealed in
another process, and fails closed when KMS will not unwrap it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from resources.processes import StartedProcesses
from resources.servers import free_port
from resources.waiting import wait_until
from usina.crypto import KeyRing, open_bytes, seal_bytes
from usina.errors import KeyUnavailable

boto3 = pytest.importorskip("boto3", reason="the kms extra is not installed")
pytest.importorskip("moto.server", reason="moto[server] (dev extra) is not installed")


def test_a_key_wrapped_by_kms_seals_and_opens(
    tmp_path: Path, processes: StartedProcesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    port = free_port()
    processes.start(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(
        lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True,
        60,
        "moto.server to listen",
        ignoring=(OSError,),
    )
    aws = {
        "AWS_ENDPOINT_URL_KMS": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name, value in aws.items():
        monkeypatch.setenv(name, value)
    kms_key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]

    made = subprocess.run(
        [sys.executable, "-m", "usina", "keys", "generate", "--id", "k2", "--aws-kms", kms_key],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **aws},
    )
    assert made.returncode == 0, made.stderr
    entry = made.stdout.strip()
    assert entry.startswith("k2:aws-kms:")
    ring = KeyRing.parse(entry)
    sealed = seal_bytes(ring, b"sealed under a KMS data key")
    # Read again (as another process would): KMS unwraps the same key.
    assert open_bytes(KeyRing.parse(entry), sealed) == b"sealed under a KMS data key"
    # The key id is bound to the wrapped key: under another id KMS refuses to unwrap it.
    moved = entry.replace("k2:", "k3:", 1)
    with pytest.raises(KeyUnavailable, match="AWS KMS did not unwrap key 'k3'"):
        KeyRing.parse(moved)
