"""Workers forked while other threads of the coordinator use SQLite: none is waited on forever.

A fork copies the locks other threads hold at that moment, and a copied lock is never released
in the child. A server or the demo runs pipelines beside threads that read the same SQLite
file, and a worker forked while one of them was inside SQLite on that file hung at its first
query, with the run waiting on it forever (about one fork in fifty with one such thread). A
new worker now opens the coordinator's SQLite files first and says it is ready; one that does
not is killed and forked again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from resources import pipelines as p
from usina.artifacts import open_artifact_store
from usina.pipelines.worker import Task, WorkerPool
from usina.store.database import Database, sqlite_files

FORKS = 60


class _Said(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def said() -> Iterator[_Said]:
    handler = _Said()
    logger = logging.getLogger("usina.pipelines")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_every_worker_forked_beside_sqlite_readers_runs_its_step(
    tmp_path: Path, said: _Said
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'usina.db'}")
    db.migrate()  # the file exists, in WAL mode, as a server's does
    assert str(tmp_path / "usina.db") in sqlite_files()
    stop = threading.Event()

    def read_all_the_time() -> None:  # what a server's poller does, without the pauses
        connection = sqlite3.connect(tmp_path / "usina.db", check_same_thread=False)
        while not stop.is_set():
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        connection.close()

    readers = [threading.Thread(target=read_all_the_time, daemon=True) for _ in range(2)]
    for reader in readers:
        reader.start()
    steps = {n.name: n.step for n in p.parallel.graph}
    # One step per worker (as with a memory:// store), so each step needs a new fork. A worker
    # that hangs is killed after ``ready_seconds``, and each hang costs the test that long:
    # several of the 60 forks hang. A healthy start takes a tenth of a second or so (this
    # test process has many SQLite files open, each one opened again); 3 s leaves a loaded CI
    # host room for it, and a healthy worker killed for being slow is only forked again (the
    # test fails only when ``FORK_ATTEMPTS`` attempts in a row do not start).
    pool = WorkerPool(steps, open_artifact_store(str(tmp_path / "art")), True, ready_seconds=3)
    task = Task("nap", steps["nap"], {}, {"workdir": str(tmp_path), "name": "a", "seconds": 0})
    done = 0
    try:
        for i in range(FORKS):
            worker = pool.start(task, str(tmp_path / f"nap.{i}.log"), "run", "pipeline-run")
            assert worker.conn.poll(60), f"worker {i} took the step and never answered"
            status, outputs, _ = worker.conn.recv()
            assert status == "ok", outputs
            pool.release(worker)  # keep_bytes: the worker is stopped, the next one forked
            done += 1
    finally:
        stop.set()
        for reader in readers:
            reader.join(10)
        pool.close()
        db.engine.dispose()
    assert done == FORKS
    # Each replaced worker was said, with the attempt it was.
    replaced = [m for m in said.messages if "did not start" in m]
    assert all("forking another" in m for m in replaced), replaced


# A Ctrl-C that lands while the coordinator forks a worker: sent from an at-fork callback of
# the parent, the exact moment where Python would run the handler inside the callback, print
# "Exception ignored" and go on with the run.
CTRL_C_DURING_FORK = """
import multiprocessing, os, signal, sys
from resources import pipelines as p
from usina.artifacts import open_artifact_store
from usina.pipelines.worker import Task, WorkerPool

signal.signal(signal.SIGINT, signal.default_int_handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
workdir = sys.argv[1]
steps = {n.name: n.step for n in p.parallel.graph}
pool = WorkerPool(steps, open_artifact_store(workdir + "/art"), True)
task = Task("nap", steps["nap"], {}, {"workdir": workdir, "name": "a", "seconds": 0})
sent = []

def interrupt():
    if not sent:
        sent.append(True)
        os.kill(os.getpid(), signal.SIGINT)

os.register_at_fork(after_in_parent=interrupt)
try:
    pool.start(task, workdir + "/nap.log", "run", "pipeline-run")
except KeyboardInterrupt:
    print("interrupted; workers left:", len(multiprocessing.active_children()))
    sys.exit(0)
print("the run went on")
sys.exit(1)
"""


def test_a_ctrl_c_during_a_fork_interrupts_the_coordinator(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    tests = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", CTRL_C_DURING_FORK, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "interrupted; workers left: 0", result.stdout
    assert "Exception ignored" not in result.stderr
