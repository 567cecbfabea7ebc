"""The entrypoint a compiled component runs: one step of a pipeline, recorded like a local run.

A Kubeflow or Vertex AI task calls :func:`run_step` with the pipeline reference, the step's
node name, the KFP job name, its inputs and the client the container's ``USINA_*`` settings
describe (the generated component builds it: settings are read at that edge). It loads the
pipeline (the same code as locally), reads inputs from usina's artifact store, checks usina's
cache, runs the step in-process, records the step run, its artifacts and lineage through the
client's stores (a metadata database, or a usina server with ``USINA_URL``), and returns the
outputs' descriptors as JSON for the downstream tasks.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from typing import Any

import orjson

from usina.errors import InvalidInput
from usina.pipelines.base import Backend
from usina.pipelines.entities import PipelineStatus, StepRun, StepStatus
from usina.pipelines.execution import Attempt, cache_key, record_success, still_stored
from usina.pipelines.loader import load_pipeline
from usina.pipelines.step_context import StepContext, running_step
from usina.pipelines.types import Artifact
from usina.pipelines.worker import Task, execute
from usina.tracking import RunStatus


def pipeline_run_id(job: str) -> str:
    """The usina pipeline run id for a KFP job name (stable, so every task agrees on it)."""
    return hashlib.sha256(job.encode()).hexdigest()[:32]


def run_step(
    ref: str,
    node: str,
    job: str,
    values: dict[str, Any],
    inputs: dict[str, list[str]],
    backend: Backend,
) -> str:
    """Run ``node`` of the pipeline ``ref`` for the KFP job ``job``; returns its outputs as JSON.

    Args:
        values: the step's literal and parameter arguments.
        inputs: argument -> [upstream task's JSON output, output name].
        backend: where the step records (``usina.get_client()`` in a generated component).
    """
    pipeline = load_pipeline(ref)
    if node not in pipeline.graph.nodes:
        raise InvalidInput(f"pipeline {pipeline.name!r} has no step {node!r}", field="node")
    n = pipeline.graph.nodes[node]
    artifacts = {
        arg: Artifact.from_json(orjson.loads(text)[out]) for arg, (text, out) in inputs.items()
    }
    literals = {k: v for k, v in n.step.defaults.items() if k not in n.args}
    literals.update(values)
    task = Task(node, n.step, artifacts, literals)
    key = cache_key(task)
    store = backend.pipelines
    run_id = pipeline_run_id(job)
    store.create_run(run_id, pipeline.name, ref, {}, f"kfp:{job}"[:256], exist_ok=True)
    previous = store.find_cached([key]).get(key) if n.step.cache else None
    if previous is not None and still_stored(backend.artifacts, previous):
        store.record_steps([StepRun.cached(run_id, node, key, previous)])
        _maybe_finish(backend, run_id, pipeline.graph.nodes)
        return _outputs_json(previous.outputs)
    step_run = backend.tracking.create_run(pipeline.name, node)
    backend.tracking.log_batch(
        step_run.id,
        tags={
            "usina.kind": "step",
            "usina.pipeline_run": run_id,
            "usina.step": node,
            "usina.kfp_job": job,
        },
    )
    started = time.time()
    try:
        with running_step(StepContext(step_run.id, run_id, node, backend)):
            outputs, _ = execute(task, backend.artifacts)
    except BaseException:
        error = traceback.format_exc()
        failed = StepRun.failed(
            step_run.id, run_id, node, key, attempts=1, started=started, error=error
        )
        store.record_steps([failed])
        backend.tracking.end_run(step_run.id, RunStatus.FAILED)
        store.end_run(run_id, PipelineStatus.FAILED)
        raise
    attempt = Attempt(node, task, key, step_run.id, started, 1)
    record_success(backend, pipeline, run_id, attempt, outputs, None)
    _maybe_finish(backend, run_id, pipeline.graph.nodes)
    return _outputs_json(outputs)


def _outputs_json(outputs: dict[str, Artifact]) -> str:
    return orjson.dumps({k: a.to_json() for k, a in outputs.items()}).decode()


def _maybe_finish(backend: Backend, run_id: str, nodes: dict[str, Any]) -> None:
    """Mark the pipeline run succeeded once every node has a successful step run."""
    run = backend.pipelines.get_run(run_id)
    done = {s.node for s in run.steps if s.status in (StepStatus.DONE, StepStatus.CACHED)}
    if done >= set(nodes) and run.status == PipelineStatus.RUNNING:
        backend.pipelines.end_run(run_id, PipelineStatus.SUCCEEDED)
