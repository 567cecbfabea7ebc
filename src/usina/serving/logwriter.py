"""The request log's writer process: ``python -m usina.serving.logwriter STORE_URI``.

A serving worker started with the writer out of process (the default for a folder, ``gs://``
or ``s3://`` store) hands it each flush interval's rows over a pipe, as pickled tuples, and this
process turns them into Parquet files in the store. The serving process then spends about a
microsecond of its GIL per logged request instead of ten, and requests never wait on Parquet.

It writes a batch as soon as the batch has arrived whole, and when its input ends (the server
stopped, or died) it writes what it holds and exits. A write that fails is retried with the
next batch; past ``max_buffered`` rows the oldest are dropped and counted, as in the server.
"""

from __future__ import annotations

import logging
import signal
import sys

from usina.artifacts import open_artifact_store
from usina.serving.requestlog import RequestLog, read_batches

log = logging.getLogger("usina.serving")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m usina.serving.logwriter STORE_URI", file=sys.stderr)
        return 2
    # The server decides when this process ends, by closing its input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="usina request log writer: %(message)s")
    writer = RequestLog(open_artifact_store(argv[0]))
    for batch in read_batches(sys.stdin.buffer):
        for row in batch:
            writer.append(row)
        writer.flush(pause=0.0)
    writer.flush(pause=0.0)
    if writer.dropped:
        log.error("%d request log rows were dropped after failed writes", writer.dropped)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
