"""The entrypoint a compiled component runs: one step of a pipeline, recorded like a local run.

A Kubeflow or Vertex AI task calls :func:`run_step` with the pipeline reference, the step's
node name, the KFP job name and its inputs. It loads the pipeline (the same code as locally),
reads inputs from usina's artifact store, checks usina's cache, runs the step in-process,
records the step run, its artifacts and lineage in the metadata database named by
``USINA_DB_URL``, and returns the outputs' descriptors as JSON for the downstream tasks.
"""

from __future__ import annotations

import hashlib
import time
import traceback
import uuid
from typing import Any

import orjson

from usina.errors import InvalidInput
from usina.pipelines.loader import load_pipeline
from usina.pipelines.runner import Attempt, Backend, LocalRunner, cache_key, default_backend
from usina.pipelines.store import PipelineStatus, StepRun, StepStatus
from usina.pipelines.types import Artifact
from usina.pipelines.worker import Task, execute
from usina.store import insert_if_absent
from usina.store import schema as t
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
    backend: Backend | None = None,
) -> str:
    """Run ``node`` of the pipeline ``ref`` for the KFP job ``job``; returns its outputs as JSON.

    Args:
        values: the step's literal and parameter arguments.
        inputs: argument -> [upstream task's JSON output, output name].
    """
    backend = backend or default_backend()
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
    runner = LocalRunner(backend)
    run_id = pipeline_run_id(job)
    _ensure_run(runner, run_id, pipeline.name, ref, job)
    previous = runner.store.find_cached(key) if n.step.cache else None
    if previous is not None and runner._still_stored(previous):
        now = time.time()
        runner.store.record_steps(
            [
                StepRun(
                    uuid.uuid4().hex,
                    run_id,
                    node,
                    StepStatus.CACHED,
                    key,
                    previous.cached_from or previous.id,
                    0,
                    now,
                    now,
                    previous.outputs,
                )
            ]
        )
        _maybe_finish(runner, run_id, pipeline.graph.nodes)
        return _outputs_json(previous.outputs)
    step_run = runner.tracking.create_run(pipeline.name, node)
    runner.tracking.log_batch(
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
        outputs, _ = execute(task, backend.artifacts)
    except BaseException:
        error = traceback.format_exc()
        runner.store.record_steps(
            [
                StepRun(
                    step_run.id,
                    run_id,
                    node,
                    StepStatus.FAILED,
                    key,
                    None,
                    1,
                    started,
                    time.time(),
                    {},
                    error,
                )
            ]
        )
        runner.tracking.end_run(step_run.id, RunStatus.FAILED)
        runner.store.end_run(run_id, PipelineStatus.FAILED)
        raise
    attempt = Attempt(node, task, key, step_run.id, started, 1)
    runner.record_success(pipeline, run_id, attempt, outputs, time.time(), None)
    _maybe_finish(runner, run_id, pipeline.graph.nodes)
    return _outputs_json(outputs)


def _outputs_json(outputs: dict[str, Artifact]) -> str:
    return orjson.dumps({k: a.to_json() for k, a in outputs.items()}).decode()


def _ensure_run(runner: LocalRunner, run_id: str, pipeline: str, ref: str, job: str) -> None:
    def tx(conn: Any) -> None:
        insert_if_absent(
            conn,
            t.pipeline_runs,
            {
                "id": run_id,
                "pipeline": pipeline,
                "ref": ref,
                "params": "{}",
                "status": "running",
                "trigger": f"kfp:{job}"[:256],
                "resumed_from": None,
                "start_time": time.time(),
                "created_by": runner.backend.actor,
            },
            ["id"],
        )

    runner.db.write(tx)


def _maybe_finish(runner: LocalRunner, run_id: str, nodes: dict[str, Any]) -> None:
    """Mark the pipeline run succeeded once every node has a successful step run."""
    run = runner.store.get_run(run_id)
    done = {s.node for s in run.steps if s.status in (StepStatus.DONE, StepStatus.CACHED)}
    if done >= set(nodes):
        runner.store.end_run(run_id, PipelineStatus.SUCCEEDED)
