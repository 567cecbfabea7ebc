"""Server memory under a large artifact: upload and download 500 MB through ``usina server``.

The server must stream both ways: its resident memory may grow by less than 100 MB while a
500 MB artifact goes up and comes back. The script starts ``usina server`` (one worker) on a
free loopback port, resets the process's peak-RSS counter (``/proc/PID/clear_refs``), then:

1. upload:   ``put_file`` of a 500 MB file through ``HttpArtifactStore`` (a streamed PUT);
2. download: ``download`` of the same blob (a streamed GET, digest verified on the client).

It prints the server's RSS before, its peak (VmHWM) after, the growth, and the throughput.
Linux only (it reads ``/proc``).

    python benchmarks/server.py              # 500 MB
    python benchmarks/server.py --mb 100     # a quicker run
    python benchmarks/server.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from usina.artifacts import download, put_file
from usina.artifacts.http import HttpArtifactStore

MB = 2**20


@dataclass(frozen=True)
class Result:
    size_mb: int
    rss_before_mb: float
    peak_after_upload_mb: float
    peak_after_download_mb: float
    growth_mb: float
    upload_mb_s: float
    download_mb_s: float


def _status(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _make_file(path: Path, size_mb: int) -> None:
    block = os.urandom(MB)
    with path.open("wb") as f:
        for i in range(size_mb):
            f.write(block[:-8] + i.to_bytes(8, "big"))


def measure(size_mb: int, root: Path) -> Result:
    port = _free_port()
    env = {**os.environ, "USINA_HOME": str(root / "home")}
    env.pop("USINA_URL", None)
    log = (root / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "usina", "server", "--port", str(port), "--log-level", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "server.log").read_text())
            time.sleep(0.1)
        source = root / "big.bin"
        _make_file(source, size_mb)
        store = HttpArtifactStore(url)
        store.write("warmup.bin", b"x" * MB)  # first-request imports are not the artifact's cost
        with store.open("warmup.bin") as f:
            f.read()
        _reset_peak(server.pid)
        before = _status(server.pid, "VmRSS")

        started = time.perf_counter()
        blob = put_file(store, source)
        upload_s = time.perf_counter() - started
        after_upload = _status(server.pid, "VmHWM")

        started = time.perf_counter()
        download(store, blob.digest, root / "back.bin")
        download_s = time.perf_counter() - started
        after_download = _status(server.pid, "VmHWM")
        store.server.close()
        assert (root / "back.bin").stat().st_size == size_mb * MB
        return Result(
            size_mb=size_mb,
            rss_before_mb=round(before, 1),
            peak_after_upload_mb=round(after_upload, 1),
            peak_after_download_mb=round(after_download, 1),
            growth_mb=round(max(after_upload, after_download) - before, 1),
            upload_mb_s=round(size_mb / upload_s, 1),
            download_mb_s=round(size_mb / download_s, 1),
        )
    finally:
        server.terminate()
        server.wait(15)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=500, help="Artifact size in MiB.")
    parser.add_argument("--json", action="store_true", help="Print JSON.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="usina-bench-server-") as tmp:
        result = measure(args.mb, Path(tmp))
    if args.json:
        print(json.dumps(asdict(result)))
        return
    print(f"artifact          {result.size_mb} MiB")
    print(f"server RSS before {result.rss_before_mb} MiB")
    print(f"peak after upload {result.peak_after_upload_mb} MiB ({result.upload_mb_s} MiB/s)")
    print(f"peak after down   {result.peak_after_download_mb} MiB ({result.download_mb_s} MiB/s)")
    print(f"growth            {result.growth_mb} MiB (bound: < 100 MiB)")


if __name__ == "__main__":
    main()
