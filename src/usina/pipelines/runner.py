"""The local runner: a pipeline's steps in forked worker processes on this machine, with
caching, retries and timeouts (``usina.pipelines.execution`` does the stepping).

What a run records goes through its backend's stores: on a metadata database directly, or
through a usina server, so a laptop can run a pipeline that the team's server keeps.

Limitation: workers are forked, so the runner needs a platform with ``fork`` (Linux, macOS).
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any

import orjson

from usina.errors import InvalidInput
from usina.pipelines.base import Backend, PipelineSpec
from usina.pipelines.entities import PipelineRun, PipelineStatus, StepRun, StepStatus
from usina.pipelines.execution import Execution
from usina.pipelines.types import DATASET, MODEL
from usina.pipelines.view import NullView, View
from usina.tracking import RunStatus

__all__ = ["Backend", "LocalRunner"]


class LocalRunner:
    """Runs pipelines on this machine.

    Example:
        >>> runner = LocalRunner(usina.Client("sqlite:///u.db", "artifacts"))  # doctest: +SKIP
        >>> run = runner.run(training, {"C": 0.5})
        >>> run.status, [s.status for s in run.steps]
    """

    def __init__(
        self,
        backend: Backend,
        *,
        max_workers: int | None = None,
        show: bool = False,
        view: View | None = None,
    ) -> None:
        if max_workers is not None and (
            isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1
        ):
            raise InvalidInput(
                f"max_workers={max_workers!r} must be a whole number >= 1", field="max_workers"
            )
        self.backend = backend
        self.max_workers = max_workers or os.cpu_count() or 1
        self.show = show
        self.view = view

    def run(
        self,
        pipeline: PipelineSpec,
        params: dict[str, Any] | None = None,
        *,
        cache: bool = True,
        resume: str | None = None,
        trigger: str = "manual",
    ) -> PipelineRun:
        """Run ``pipeline`` and return the finished run (``status`` says how it ended).

        Args:
            params: parameter values; defaults fill the rest.
            cache: reuse earlier executions (a step's own ``cache=False`` also turns it off).
            resume: the id of an earlier run of this pipeline: steps that succeeded there are
                reused as they are, and only what failed or did not run executes.
            trigger: what started the run (``manual``, ``schedule:NAME``...), kept with it.
        """
        store = self.backend.pipelines
        tracking = self.backend.tracking
        reuse: dict[str, StepRun] = {}
        resumed_from = None
        if resume is not None:
            previous = store.get_run(resume)
            if previous.pipeline != pipeline.name:
                raise InvalidInput(
                    f"run {resume} is of pipeline {previous.pipeline!r}, not {pipeline.name!r}",
                    field="resume",
                )
            reuse = {
                s.node: s
                for s in previous.steps
                if s.status in (StepStatus.DONE, StepStatus.CACHED)
            }
            params = {**previous.params, **(params or {})}
            resumed_from = previous.id
            trigger = f"resume:{previous.id}"
        values = pipeline.resolve_params(params or {})
        run = tracking.create_run(
            pipeline.name, f"{pipeline.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
        tracking.log_batch(
            run.id,
            params={
                k: orjson.dumps(v).decode() if not isinstance(v, str) else v
                for k, v in values.items()
            },
            tags={
                "usina.kind": "pipeline",
                "usina.trigger": trigger,
                "usina.pipeline": pipeline.name,
            },
        )
        store.create_run(run.id, pipeline.name, pipeline.ref, values, trigger, resumed_from)
        _preload(pipeline)
        view = self.view or _make_view(self.show, pipeline, run.id)
        execution = Execution(
            self.backend,
            pipeline,
            run.id,
            values,
            cache=cache,
            reuse=reuse,
            view=view,
            max_workers=self.max_workers,
        )
        try:
            ok = execution.execute()
        except BaseException:
            # Interrupted (Ctrl-C) or the store failed: leave nothing marked running.
            store.end_run(run.id, PipelineStatus.FAILED)
            tracking.end_run(run.id, RunStatus.KILLED)
            raise
        finally:
            view.close()
        store.end_run(run.id, PipelineStatus.SUCCEEDED if ok else PipelineStatus.FAILED)
        tracking.end_run(run.id, RunStatus.FINISHED if ok else RunStatus.FAILED)
        return store.get_run(run.id)


def _preload(pipeline: PipelineSpec) -> None:
    """Import what the steps' types need once here, so forked workers start with it loaded."""
    kinds = {
        k[0] for n in pipeline.graph for k in [*n.step.inputs.values(), *n.step.outputs.values()]
    }
    modules = []
    if DATASET in kinds:
        modules += ["pyarrow", "pyarrow.parquet", "pandas"]
    if MODEL in kinds:
        modules += ["usina.registry.formats", "sklearn.base"]
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


def _make_view(show: bool, pipeline: PipelineSpec, run_id: str) -> View:
    if not show:
        return NullView()
    from usina.pipelines.view import RichView

    return RichView(pipeline.name, run_id, list(pipeline.graph.order()))
