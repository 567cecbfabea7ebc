"""Running one step: in a forked worker process for the local runner, in-process for KFP.

The worker reads its inputs from the artifact store, calls the step, writes its outputs back
and reports ``Artifact`` records. Its stdout and stderr (file descriptors 1 and 2, so output of
C extensions and subprocesses too) go to a log file the runner stores with the step run.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from usina.artifacts import ArtifactStore
from usina.pipelines.dsl import Step
from usina.pipelines.types import Artifact, decode, encode


@dataclass(frozen=True)
class Task:
    """What a worker needs: the step, its stored inputs and its literal values."""

    node: str
    step: Step
    inputs: dict[str, Artifact]
    values: dict[str, Any]


def execute(
    task: Task, store: ArtifactStore, *, keep_bytes: bool = False
) -> tuple[dict[str, Artifact], dict[str, bytes]]:
    """Run ``task`` here and now; returns its output artifacts (and their bytes if asked).

    With ``keep_bytes`` the outputs are not written to ``store`` but returned, for a parent
    process to store (a ``memory://`` store is private to each process).
    """
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


def child_main(
    conn: Connection, task: Task, store: ArtifactStore, log_path: str, keep_bytes: bool
) -> None:
    """The body of a forked worker: run the step, send ``("ok", outputs, payloads)`` or an error."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    # Replace the Python-level streams too: a test harness or notebook may have swapped them.
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    try:
        outputs, payloads = execute(task, store, keep_bytes=keep_bytes)
        message: tuple[Any, ...] = ("ok", outputs, payloads)
    except BaseException:  # noqa: BLE001 - every failure, even SystemExit, is the step's
        text = traceback.format_exc()
        sys.stderr.write(text)
        message = ("error", text)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    conn.send(message)
    conn.close()
