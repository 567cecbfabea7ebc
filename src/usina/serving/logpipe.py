"""The pipes between a serving worker and its request log writer process.

Worker to writer (the writer's stdin): frames, each a header of two 4-byte little-endian
numbers, the length and the rows it carries, and a pickle of either rows as columns
(``usina.serving.logfiles.pack_rows``: at most ``SEND_ROWS`` rows queued as tuples, or one
key's usual rows, ``UsualRows.packed``) or a dict ``{"drops": [...]}`` of drop records the
worker counted (its queue was full; no rows); an empty frame ends a batch. The writer keeps
rows as their pickle, counted from the header, until it writes them (``frame_table``), and
exits when its stdin ends.

Writer to worker (the writer's stdout): one JSON line per file written or rows dropped,
``{"written": [[endpoint, version, shadow, rows], ...]}`` or ``{"dropped": REASON, "rows":
[...]}``. The worker adds them to its Prometheus counters and, for rows it handed over that
the writer never accounted for when it exits, counts ``writer_crash`` drops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, BinaryIO, NamedTuple

import orjson

from usina.artifacts import ArtifactStore
from usina.serving.logfiles import (
    DropKey,
    Packed,
    Row,
    RowKey,
    pack_rows,
    packed_batch,
    packed_keys,
)

log = logging.getLogger("usina.serving")

# Artifact stores a writer process can open again from their URI.
OUT_OF_PROCESS_SCHEMES = ("file", "gs", "gcs", "s3")
SEND_ROWS = 16_384
# The environment variable that hands the writer process the master key ring.
WRITER_KEYS = "USINA_LOG_WRITER_KEYS"
HEADER = struct.Struct("<II")  # the length of a frame's pickle, and the rows it carries
END_OF_BATCH = HEADER.pack(0, 0)
# The writer's allocator settings (see ``spawn_writer``); other glibc.malloc tunables set in the
# server's environment replace them.
WRITER_MALLOC = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"


class Frame(NamedTuple):
    """One frame from the worker: rows (the pickle of their columns, see ``frame_table``, and
    how many), drop records, or the end of a batch."""

    data: bytes | None
    rows: int
    drops: Counter[DropKey]
    end: bool


def writer_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The writer process's environment: the server's, with its allocators' settings."""
    env = dict(environ)
    env.pop(WRITER_KEYS, None)
    # Arrow's default allocator (mimalloc) hands freed memory back to the kernel within
    # milliseconds, from a region marked for transparent huge pages: the next batch faults it
    # in again, 2 MiB zeroed at a time, which took 12 to 40% of the writer's CPU. The C
    # library's allocator keeps it. Read by Arrow as it loads, so set before the process starts.
    env.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    # glibc maps large blocks afresh and gives the top of its heap back once 128 KiB there are
    # free, so each write faulted its buffers in again, zeroed page by page (13 to 20% of the
    # writer's CPU, measured). Blocks up to 32 MiB come from the heap and the heap is kept; the
    # writer gives memory back itself (``logwriter``: after a failed write, and once a minute).
    tunables = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc." not in tunables:
        env["GLIBC_TUNABLES"] = ":".join(filter(None, (tunables, WRITER_MALLOC)))
    return env


def spawn_writer(store: ArtifactStore, options: list[str]) -> subprocess.Popen[bytes] | None:
    """Start ``python -m usina.serving.logwriter URI OPTIONS``, or ``None`` when the store
    cannot be opened from another process (``memory://``, a usina server)."""
    uri = getattr(store, "uri", "")
    if uri.partition("://")[0] not in OUT_OF_PROCESS_SCHEMES:
        return None
    env = writer_environment(os.environ)
    keys = getattr(store, "keys", None)
    if keys is not None:
        export = getattr(keys, "export", None)
        if export is None:
            return None  # keys it cannot hand over: write in this process
        # The writer seals what it writes with the same keys; they travel in its environment,
        # never on its command line, which other users can see.
        env[WRITER_KEYS] = export()
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "usina.serving.logwriter", uri, *options],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Its own session: a Ctrl-C to the server's process group must not stop it before
            # the server has handed it the last rows; it exits when its input ends.
            start_new_session=True,
        )
    except OSError:
        log.exception("could not start the request log writer process; writing in this one")
        return None


def end_writer(process: subprocess.Popen[bytes]) -> None:
    """Close the writer process's input, so it writes what it holds and exits; wait for it."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        log.error("the request log writer process did not finish in 60 s; killing it")
        process.kill()
        process.wait()


def _frame(payload: Any, rows: int = 0) -> bytes:
    data = pickle.dumps(payload, 5)
    return HEADER.pack(len(data), rows) + data


def frame_table(data: bytes) -> Any:
    """The Arrow table of a frame's rows (``Frame.data``)."""
    import pyarrow as pa

    return pa.Table.from_batches([packed_batch(pickle.loads(data), pa)])


def send(
    process: subprocess.Popen[bytes],
    frames: list[Packed],
    drops: Counter[DropKey],
    handed: Callable[[Counter[RowKey]], None],
) -> int:
    """Hand ``drops`` then ``frames`` (rows as columns, ``pack_rows``) to the writer, and end
    the batch. ``handed`` is called with each frame's rows counted by key once it is in the
    pipe. Returns how many frames were handed: fewer than ``len(frames)`` (or -1 when not even
    the drop records went) when the writer is gone."""
    pipe = process.stdin
    if pipe is None or process.poll() is not None:
        return -1
    try:
        if drops:
            pipe.write(_frame({"drops": list(drops.items())}))
    except OSError:
        return -1
    sent = 0
    try:
        for packed in frames:
            pipe.write(_frame(packed, packed["n"]))
            sent += 1
            handed(packed_keys(packed))
        pipe.write(END_OF_BATCH)
        pipe.flush()
    except OSError:
        pass
    return sent


def pack_frames(rows: list[Row]) -> list[Packed]:
    """``rows`` as frames of at most ``SEND_ROWS`` rows each."""
    return [pack_rows(rows[i : i + SEND_ROWS]) for i in range(0, len(rows), SEND_ROWS)]


def read_frames(stream: BinaryIO) -> Iterator[Frame]:
    """The frames ``send`` wrote, until the stream ends; a frame cut short by the end of the
    stream (the worker died mid-send) is left out."""
    while True:
        header = stream.read(HEADER.size)
        if len(header) < HEADER.size:
            return
        size, rows = HEADER.unpack(header)
        if size == 0:
            yield Frame(None, 0, Counter(), True)
            continue
        payload = stream.read(size)
        if len(payload) < size:
            return
        if rows:
            yield Frame(payload, rows, Counter(), False)
        else:
            yield Frame(None, 0, Counter(dict(pickle.loads(payload)["drops"])), False)


def status_line(counts: Counter[RowKey], reason: str | None = None) -> bytes:
    """A writer-to-worker line: ``counts`` rows written, or dropped for ``reason``."""
    rows = [[*key, n] for key, n in counts.items()]
    message = {"written": rows} if reason is None else {"dropped": reason, "rows": rows}
    return orjson.dumps(message) + b"\n"


def read_status(
    stream: IO[bytes],
    written: Callable[[Counter[RowKey]], None],
    dropped: Callable[[Counter[RowKey], str], None],
) -> None:
    """Apply the writer's status lines until its stdout ends."""
    for line in stream:
        try:
            message = orjson.loads(line)
            rows = message["written"] if "written" in message else message["rows"]
            counts: Counter[RowKey] = Counter({(e, v, bool(s)): int(n) for e, v, s, n in rows})
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.error("request log: unreadable status line from the writer process: %r", line)
            continue
        if "written" in message:
            written(counts)
        else:
            dropped(counts, str(message["dropped"]))
