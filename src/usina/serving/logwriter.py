"""The request log's writer process: ``python -m usina.serving.logwriter STORE_URI [options]``.

A serving worker started with the writer out of process (the default for a folder, ``gs://``
or ``s3://`` store) hands it each flush interval's rows over a pipe, as columns (a few joined
buffers, see ``usina.serving.logfiles.pack_rows``), and this process turns them into Arrow
tables and Parquet files in the store, a file's batches together as it writes them. The
serving process then spends well under a microsecond of its GIL per logged request on the
hand-over, and requests never wait on Parquet.

A thread reads the pipe into a :class:`~usina.serving.logsink.LogSink` as frames arrive, so the
worker is never held up by a slow or failing store: the sink holds at most ``--max-buffered``
rows, drops and counts the rest, and retries the store with backoff (``--retry-min`` doubling up
to ``--retry-max`` seconds). The main thread writes what the sink holds ``--file-interval``
seconds after the first of it arrived (one file per endpoint and interval; sooner when half of
``--max-buffered`` rows wait), and each retry when it is due. Every file written and every drop
is reported to the worker as a line on stdout (see :mod:`usina.serving.logpipe`). When its input
ends (the server stopped, or died) it writes what it holds and exits."""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import functools
import gc
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import BinaryIO

from usina.artifacts import open_artifact_store
from usina.crypto.keys import KeyRing
from usina.serving.logfiles import RowKey, warm_up
from usina.serving.logpipe import WRITER_KEYS, frame_table, read_frames, status_line
from usina.serving.logsink import LogSink, Undecoded

log = logging.getLogger("usina.serving")


class _Status:
    """Status lines to the worker; once the worker is gone, writing goes on without them."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream: BinaryIO | None = stream
        self.lock = threading.Lock()

    def send(self, line: bytes) -> None:
        with self.lock:
            if self.stream is None:
                return
            try:
                self.stream.write(line)
                self.stream.flush()
            except OSError:
                self.stream = None

    def written(self, counts: Counter[RowKey]) -> None:
        self.send(status_line(counts))

    def dropped(self, counts: Counter[RowKey], reason: str) -> None:
        self.send(status_line(counts, reason))


# How often, at most, the writer gives back what successful writes used (see ``_trimmer``).
TRIM_EVERY_SECONDS = 60.0


def _trimmer() -> Callable[[], object]:
    """The C library's ``malloc_trim(0)`` where there is one (glibc), else nothing. The writer
    runs Arrow on that allocator and keeps its heap (see ``logpipe.spawn_writer``), so the
    memory one write used serves the next. After each failed write (a store outage: the rows
    wait, and each retry encodes them again) this gives back what the attempt used, so the
    process's memory follows the rows it holds; after a successful write it does so at most
    once a ``TRIM_EVERY_SECONDS``: giving a write's memory back after each one made the next
    fault it in again, page by page."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return functools.partial(libc.malloc_trim, 0)
    except (OSError, AttributeError):
        return lambda: None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m usina.serving.logwriter")
    parser.add_argument("store_uri")
    parser.add_argument("--max-buffered", type=int, default=100_000)
    parser.add_argument("--retry-min", type=float, default=0.5)
    parser.add_argument("--retry-max", type=float, default=30.0)
    parser.add_argument("--file-interval", type=float, default=0.0)
    parser.add_argument("--nice", type=int, default=0)
    args = parser.parse_args(argv)
    if args.nice:
        # Background work: when serving and this process both want a core, serving gets it.
        try:
            os.nice(args.nice)
        except OSError as exc:
            log.warning("could not lower this process's priority (%s); running at the same", exc)
    # The server decides when this process ends, by closing its input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="usina request log writer: %(message)s")
    status = _Status(sys.stdout.buffer)
    shared = os.environ.pop(WRITER_KEYS, None)
    keys = KeyRing.parse(shared, source="the server's master key") if shared else None
    sink = LogSink(
        open_artifact_store(args.store_uri, keys),
        f"{os.getpid()}-{uuid.uuid4().hex[:8]}",
        max_buffered=args.max_buffered,
        retry_min=args.retry_min,
        retry_max=args.retry_max,
        file_interval=args.file_interval,
        on_written=status.written,
        on_dropped=status.dropped,
    )
    wake = threading.Event()
    ended = threading.Event()
    trim = _trimmer()

    def read() -> None:
        try:
            for frame in read_frames(sys.stdin.buffer):
                if frame.drops:
                    sink.add_drops(frame.drops)
                if frame.data is not None:  # decoded with the others when they are written
                    decode = functools.partial(frame_table, frame.data)
                    sink.add_table(Undecoded(frame.rows, decode))
                if frame.end:
                    wake.set()
        finally:
            ended.set()
            wake.set()

    # Rows wait as bytes and are written as Arrow tables, neither of which holds cycles; the
    # collector has nothing to find between two writes, so this process collects once after
    # each write. What a first file loads (pyarrow, and pandas, which pyarrow imports) is
    # loaded here, by a file made and thrown away, then frozen: no collection ever scans it.
    warm_up()
    gc.collect()
    gc.freeze()
    gc.disable()
    reader = threading.Thread(target=read, name="usina-request-log-reader", daemon=True)
    reader.start()
    trimmed = time.monotonic()
    while not ended.is_set():
        wake.wait(sink.wait_time())  # a batch arrived whole, or the next write is due
        wake.clear()
        due = sink.wait_time() == 0.0
        if sink.write():
            gc.collect()
        now = time.monotonic()
        if due and (sink.failing or now - trimmed >= TRIM_EVERY_SECONDS):
            trim()  # what the write used is free
            trimmed = now
    reader.join()
    sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
