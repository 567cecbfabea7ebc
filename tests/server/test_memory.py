"""Artifacts stream through the server: its resident memory stays flat under a large upload and
download. (``benchmarks/server.py`` measures the 500 MB case; this guards the same property on
200 MB to keep the suite short.)"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from usina.artifacts import download, put_file
from usina.artifacts.http import HttpArtifactStore

MB = 2**20
SIZE_MB = 200


def _status(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_large_artifacts_stream_through_the_server(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = start_server("--log-level", "warning")
    pid = server.process.pid
    source = tmp_path / "big.bin"
    block = os.urandom(MB)
    with source.open("wb") as f:
        for i in range(SIZE_MB):
            f.write(block[:-8] + i.to_bytes(8, "big"))
    store = HttpArtifactStore(server.url)
    try:
        store.write("warmup.bin", b"x" * MB)
        with store.open("warmup.bin") as f:
            f.read()
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak to now
        before = _status(pid, "VmRSS")
        blob = put_file(store, source)
        download(store, blob.digest, tmp_path / "back.bin")
        peak = _status(pid, "VmHWM")
    finally:
        store.server.close()
    assert (tmp_path / "back.bin").stat().st_size == SIZE_MB * MB
    assert peak - before < 50, f"the server grew by {peak - before:.0f} MiB for {SIZE_MB} MiB"
