"""A batch job that stops in the middle of writing (``scoring``) or right after its commit
(``publishing``) and waits there to be killed:
``python killed_job.py MODE DB ARTIFACTS INPUT [HEARTBEAT_TIMEOUT]``."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import usina.batch.job
import usina.batch.tables
from usina.batch import run
from usina.client import Client

sys.path.insert(0, str(Path(__file__).parents[1]))
from resources.keys import keys_under_test

mode, db, artifacts, source = sys.argv[1:5]
timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 60.0
usina.batch.job.ROWS_PER_FILE = 1000  # a staged file per batch, so files land before the end
forever = threading.Event()
batches = 0


def progress(rows: int) -> None:
    global batches
    batches += 1
    if mode == "scoring" and batches == 2:
        print("stopped while scoring", flush=True)
        forever.wait()


def finish_never(store: object, manifest: object) -> list[str]:
    print("stopped after the commit", flush=True)
    forever.wait()
    return []


if mode == "publishing":
    usina.batch.tables._finish = finish_never  # type: ignore[assignment]
client = Client(db, artifacts, heartbeat_timeout=timeout, keys=keys_under_test())
run(
    "killed",
    "models:/credit-risk@champion",
    source,
    "scores",
    {"run_date": "2026-12-01"},
    ["id"],
    client=client,
    progress=progress,
)
