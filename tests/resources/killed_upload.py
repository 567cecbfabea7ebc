"""Streams an endless body into an s3:// store; prints ``sent`` once a part reached the server.

Run as ``python killed_upload.py ENDPOINT URI KEY``; the test SIGKILLs it mid-upload.
"""

from __future__ import annotations

import sys
import threading

from usina.artifacts.fsspec import FsspecArtifactStore


class Endless:
    """Gives 1 MiB chunks; after 6 MiB (one 5 MiB part uploaded) says so, then hangs."""

    def __init__(self) -> None:
        self.sent = 0
        self.hang = threading.Event()

    def read(self, n: int = -1) -> bytes:
        if self.sent >= 6 << 20:
            print("sent", flush=True)
            self.hang.wait()
        self.sent += 1 << 20
        return b"x" * (1 << 20)


if __name__ == "__main__":
    endpoint, uri, key = sys.argv[1:4]
    store = FsspecArtifactStore(
        uri,
        key="testing",
        secret="testing",
        client_kwargs={"endpoint_url": endpoint, "region_name": "us-east-1"},
        default_block_size=5 << 20,
    )
    store.write(key, Endless())  # type: ignore[arg-type]
