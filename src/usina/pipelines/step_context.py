"""Which step is running in this process, so code inside a step can record against it.

The runner sets it around each step it executes (in the worker process, or in-process for a
compiled component). ``usina.register_model`` called inside a step reads it: the version
records the step's run, and so its lineage, as a returned ``Model`` does.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StepContext:
    """The step execution running here: its tracking run, pipeline run, node and backend."""

    run_id: str
    pipeline_run_id: str
    node: str
    backend: Any = None  # the runner's client, which code in the step records through


_current: contextvars.ContextVar[StepContext | None] = contextvars.ContextVar(
    "usina_step", default=None
)


def current_step() -> StepContext | None:
    """The step running in this process, or ``None`` outside a pipeline step."""
    return _current.get()


@contextlib.contextmanager
def running_step(context: StepContext) -> Iterator[StepContext]:
    """Make ``context`` the current step for the ``with`` block."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
