"""Running one step: in a forked worker process for the local runner, in-process for KFP.

The worker reads its inputs from the artifact store, calls the step, writes its outputs back
and reports ``Artifact`` records. Its stdout and stderr (file descriptors 1 and 2, so output of
C extensions and subprocesses too) go to a log file the runner stores with the step run.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sqlite3
import sys
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any
from urllib.parse import quote

from usina.artifacts import ArtifactStore
from usina.pipelines.datasets import check_input
from usina.pipelines.graph import StepSpec
from usina.pipelines.step_context import StepContext, running_step
from usina.pipelines.types import DATASET, Artifact, decode, encode
from usina.store.database import sqlite_files

log = logging.getLogger("usina.pipelines")

# A new worker first says it is ready; one that has not within ``READY_SECONDS`` is killed and
# forked again, at most ``FORK_ATTEMPTS`` times (see ``WorkerPool._fork``).
READY = "ready"
READY_SECONDS = 20.0
# Forks hang independently of each other: on a loaded 2-core host, beside two threads reading
# SQLite without pause, about one in seven did (20 of about 140), so three in a row came up
# about once in a few hundred forks; five in a row, once in tens of thousands.
FORK_ATTEMPTS = 5
# What stops a run (Ctrl-C, a terminate): held while a worker is forked.
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@dataclass(frozen=True)
class Task:
    """What a worker needs: the step, its stored inputs and its literal values."""

    node: str
    step: StepSpec
    inputs: dict[str, Artifact]
    values: dict[str, Any]


def execute(
    task: Task, store: ArtifactStore, *, keep_bytes: bool = False
) -> tuple[dict[str, Artifact], dict[str, bytes]]:
    """Run ``task`` here and now; returns its output artifacts (and their bytes if asked).

    With ``keep_bytes`` the outputs are not written to ``store`` but returned, for a parent
    process to store (a ``memory://`` store is private to each process).
    """
    for a in task.inputs.values():
        if a.kind == DATASET and a.extra.get("dataset"):
            check_input(a)
    kwargs = {name: decode(a, store) for name, a in task.inputs.items()}
    kwargs.update(task.values)
    results = task.step.execute(kwargs)
    outputs: dict[str, Artifact] = {}
    payloads: dict[str, bytes] = {}
    for name, kind in task.step.outputs.items():
        artifact, data = encode(
            results[name], kind[0], None if keep_bytes else store, trusted=task.step.trusted
        )
        outputs[name] = artifact
        if data is not None:
            payloads[name] = data
    return outputs, payloads


class WorkerPool:
    """Worker processes forked from the coordinator and reused from step to step.

    A worker is forked on first need (up to ``size``), so it starts with everything the
    coordinator had imported. It runs one step at a time and stays for the next, which saves a
    fork per step; one that timed out or died is killed and replaced. With a ``memory://``
    store a worker cannot see artifacts stored after it was forked, so each runs one step.

    A fork copies the locks other threads of the coordinator hold at that moment (a server or
    the demo runs pipelines beside threads that use SQLite), and a copied lock is never
    released in the child. So a new worker first opens the SQLite files the coordinator uses
    and says it is ready; one that has not within ``ready_seconds`` is killed and forked again.
    """

    def __init__(
        self,
        steps: dict[str, StepSpec],
        store: ArtifactStore,
        keep_bytes: bool,
        *,
        backend: Any = None,
        ready_seconds: float = READY_SECONDS,
    ) -> None:
        self.ctx = multiprocessing.get_context("fork")
        self.ready_seconds = ready_seconds
        self.steps = steps
        self.store = store
        self.keep_bytes = keep_bytes
        self.backend = backend  # what code in a step records through (usina.register_model)
        self.idle: list[Worker] = []

    def start(self, task: Task, log_path: str, run_id: str, pipeline_run_id: str) -> Worker:
        """Send a step to an idle worker (forking one if none is idle); ``run_id`` is the
        step's tracking run, current in the worker while the step runs."""
        worker = self.idle.pop() if self.idle else self._fork()
        worker.conn.send((task.node, task.inputs, task.values, log_path, run_id, pipeline_run_id))
        return worker

    def release(self, worker: Worker) -> None:
        """Take back a worker that reported its result."""
        if self.keep_bytes:
            self.stop(worker)
        else:
            self.idle.append(worker)

    def kill(self, worker: Worker) -> None:
        """End a worker at once (a timeout), or reap one that died."""
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.conn.close()

    def stop(self, worker: Worker) -> None:
        with contextlib.suppress(OSError):
            worker.conn.send(None)
        worker.process.join(5)
        self.kill(worker)

    def close(self) -> None:
        while self.idle:
            self.stop(self.idle.pop())

    def _fork(self) -> Worker:
        for attempt in range(1, FORK_ATTEMPTS + 1):
            here, there = self.ctx.Pipe()
            mask = _hold_stop_signals()
            try:
                process = self.ctx.Process(
                    target=_serve,
                    args=(there, self.steps, self.store, self.keep_bytes, self.backend, mask),
                    daemon=True,
                )
                process.start()
            except BaseException:
                _release_stop_signals(mask)
                raise
            there.close()
            worker = Worker(process, here)
            try:
                _release_stop_signals(mask)  # a Ctrl-C that came during the fork is raised here
                with contextlib.suppress(EOFError, OSError):
                    if here.poll(self.ready_seconds) and here.recv() == READY:
                        return worker
            except BaseException:
                # Ctrl-C while the worker starts: it is not the pool's yet, so end it here.
                self.kill(worker)
                raise
            self.kill(worker)
            log.warning(
                "a pipeline worker process did not start within %g s (attempt %d of %d); it "
                "was killed%s",
                self.ready_seconds,
                attempt,
                FORK_ATTEMPTS,
                ", forking another" if attempt < FORK_ATTEMPTS else "",
            )
        files = ", ".join(sqlite_files()) or "none"
        raise RuntimeError(
            f"no pipeline worker process started in {FORK_ATTEMPTS} attempts of "
            f"{self.ready_seconds:g} s each (a new worker first opens the SQLite files this "
            f"process uses: {files})"
        )


def _hold_stop_signals() -> set[int | signal.Signals] | None:
    """Hold Ctrl-C and SIGTERM at the OS while the coordinator forks a worker, and return the
    signal mask to restore (None off the main thread, where Python runs no handler).

    Python runs a signal's handler at the next bytecode, and during a fork that can be inside
    an at-fork callback (``logging`` releases its lock in one), where the ``KeyboardInterrupt``
    is printed as "Exception ignored" and lost: the run would go on as if never interrupted.
    Held, the signal waits until ``_release_stop_signals``, outside the fork; the child starts
    with none pending and restores the mask itself.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def _release_stop_signals(mask: set[int | signal.Signals] | None) -> None:
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _one_openmp_thread_if_inherited() -> None:
    """Keep a forked worker from hanging in OpenMP code.

    GNU OpenMP's thread pool does not survive ``fork``: if the coordinator already ran a
    parallel region (a notebook that fitted a ``HistGradientBoostingClassifier``, say), the
    worker's first parallel region waits forever for threads that do not exist. A worker that
    inherits a loaded OpenMP runtime therefore runs OpenMP code on one thread; steps still run
    in parallel, one per worker.
    """
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:  # no scikit-learn, so no OpenMP runtime of its to inherit
        return
    if any(info.get("user_api") == "openmp" for info in threadpool_info()):
        threadpool_limits(1, user_api="openmp")


def _open_sqlite_files() -> None:
    """Open and read each SQLite file the coordinator uses, as its steps will: this is where a
    worker forked while another thread held SQLite's lock on that file would hang (the
    coordinator then kills it and forks another). Any other failure is left to the step."""
    for path in sqlite_files():
        with contextlib.suppress(sqlite3.Error, OSError):
            # mode=rw: a file that is not there is not created.
            connection = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=0.1)
            try:
                connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                connection.close()


@dataclass
class Worker:
    """A worker process and the pipe to it."""

    process: BaseProcess
    conn: Connection


def _serve(
    conn: Connection,
    steps: dict[str, StepSpec],
    store: ArtifactStore,
    keep_bytes: bool,
    backend: Any,
    mask: set[int | signal.Signals] | None = None,
) -> None:
    """A worker's life: run each step it is sent, writing its output to the step's log file.
    ``mask`` is the signal mask the coordinator had before it forked this process."""
    _release_stop_signals(mask)
    sys.stdout.flush()
    sys.stderr.flush()
    _one_openmp_thread_if_inherited()
    _open_sqlite_files()
    conn.send(READY)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        node, inputs, values, log_path, run_id, pipeline_run_id = message
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        # Python-level streams too: a test harness or notebook may have swapped them.
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        context = StepContext(run_id, pipeline_run_id, node, backend)
        try:
            with running_step(context):
                outputs, payloads = execute(
                    Task(node, steps[node], inputs, values), store, keep_bytes=keep_bytes
                )
            result: tuple[Any, ...] = ("ok", outputs, payloads)
        except BaseException:  # noqa: BLE001 - every failure, even SystemExit, is the step's
            text = traceback.format_exc()
            sys.stderr.write(text)
            result = ("error", text)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        conn.send(result)
