"""One pipeline run being executed: ``Execution`` owns its state (each step's status and
outputs, the attempts running) and records every step through the backend's stores.

One coordinator process walks the graph. A step whose inputs are ready is skipped when an
earlier successful execution had the same cache key (code digest, parameters, input digests);
otherwise it runs in a worker process forked from the coordinator, at most ``max_workers`` at a
time. Only the coordinator records. Each executed step is a tracking run in the pipeline's
experiment, tagged with its pipeline run; cached steps are recorded as step runs pointing at
the execution they reuse, and write no tracking run. The steps found in the cache one after
another (a whole rerun of an unchanged pipeline) are recorded in one transaction, before the
next step executes or the run ends.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

import orjson

from usina.artifacts import ArtifactStore, blob_key, put_bytes
from usina.pipelines.datasets import is_dataset_uri, resolve_input
from usina.pipelines.entities import StepRun, StepStatus
from usina.pipelines.graph import Param, Ref
from usina.pipelines.registration import register_step_model
from usina.pipelines.types import DATASET, METRICS, MODEL, Artifact
from usina.pipelines.view import NullView, View
from usina.pipelines.worker import Task, Worker, WorkerPool
from usina.tracking import Metric, RunStatus

if TYPE_CHECKING:
    from usina.pipelines.base import Backend, PipelineSpec

HEARTBEAT_EVERY_S = 10.0
_OK = (StepStatus.DONE, StepStatus.CACHED)


def cache_key(task: Task) -> str:
    """The digest of what decides a step's outputs: its code, inputs and literal values."""
    spec = {
        "code": task.step.code_digest,
        "inputs": {k: a.digest for k, a in sorted(task.inputs.items())},
        "values": task.values,
        "outputs": sorted((k, v[0]) for k, v in task.step.outputs.items()),
    }
    return hashlib.sha256(
        orjson.dumps(spec, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    ).hexdigest()


def still_stored(artifacts: ArtifactStore, previous: StepRun) -> bool:
    """Whether every dataset and model ``previous`` produced is still in the artifact store."""
    return all(
        a.kind not in (DATASET, MODEL) or artifacts.exists(blob_key(a.digest))
        for a in previous.outputs.values()
    )


@dataclass
class Attempt:
    """One attempt at a step: what ran, under which tracking run, since when."""

    node: str
    task: Task
    key: str
    run_id: str
    started: float
    attempt: int


@dataclass
class _Running(Attempt):
    worker: Worker
    log_path: str
    deadline: float | None


def record_success(
    backend: Backend,
    pipeline: PipelineSpec,
    pipeline_run_id: str,
    r: Attempt,
    outputs: dict[str, Artifact],
    log_digest: str | None,
) -> None:
    """Record a step that succeeded: metrics, inputs and artifacts on its tracking run, the
    step run with its lineage links, and its model version when the step registers one."""
    end = time.time()
    metrics = [
        Metric(k, float(v), 0, end)
        for a in outputs.values()
        if a.kind == METRICS
        for k, v in a.value.items()
    ]
    if metrics:
        backend.tracking.log_batch(r.run_id, metrics=metrics)
    for name, a in r.task.inputs.items():
        if a.kind == DATASET:
            backend.tracking.log_input(r.run_id, name, a.digest, a.rows)
    for name, a in outputs.items():
        if a.kind in (DATASET, MODEL):
            backend.tracking.log_artifact(r.run_id, f"outputs/{name}", a.digest, a.size)
    record = StepRun.done(
        r.run_id,
        pipeline_run_id,
        r.node,
        r.key,
        attempts=r.attempt,
        started=r.started,
        outputs=outputs,
        log_digest=log_digest,
        ended=end,
    )
    backend.pipelines.record_steps([record], {r.run_id: r.task.inputs})
    if r.task.step.register:
        register_step_model(
            backend.registry,
            backend.artifacts,
            r.task.step.register,
            run_id=r.run_id,
            inputs=r.task.inputs,
            outputs=outputs,
            description=f"pipeline {pipeline.name}, step {r.node}",
        )
    backend.tracking.end_run(r.run_id, RunStatus.FINISHED)


class Execution:
    """The state of one pipeline run while it executes, and the loop that advances it."""

    def __init__(
        self,
        backend: Backend,
        pipeline: PipelineSpec,
        run_id: str,
        values: dict[str, Any],
        *,
        cache: bool,
        reuse: dict[str, StepRun],
        view: View,
        max_workers: int,
    ) -> None:
        self.backend = backend
        self.pipeline = pipeline
        self.run_id = run_id
        self.values = values
        self.cache = cache
        self.reuse = reuse
        self.view = view
        self.max_workers = max_workers
        self.status: dict[str, StepStatus] = {n: StepStatus.PENDING for n in pipeline.graph.order()}
        self.outputs: dict[str, dict[str, Artifact]] = {}
        self.running: dict[str, _Running] = {}
        # Steps found in the cache, recorded together before anything else is (one
        # transaction for a run of cached steps rather than one per step).
        self.cached: list[StepRun] = []

    @property
    def ok(self) -> bool:
        return all(s in _OK for s in self.status.values())

    def execute(self) -> bool:
        """Run every step that can run; ``True`` when all succeeded or were reused."""
        for node in self.status:
            self.view.update(node, StepStatus.PENDING)
        artifacts = self.backend.artifacts
        keep_bytes = artifacts.uri.startswith("memory")
        steps = {n.name: n.step for n in self.pipeline.graph}
        pool = WorkerPool(steps, artifacts, keep_bytes, backend=self.backend)
        logdir = tempfile.mkdtemp(prefix="usina-logs-")
        try:
            self._loop(pool, logdir)
        except BaseException:
            self._interrupted(pool)
            raise
        finally:
            for r in self.running.values():
                pool.kill(r.worker)
            pool.close()
            shutil.rmtree(logdir, ignore_errors=True)
        pending = [n for n, s in self.status.items() if s == StepStatus.PENDING]
        skipped = [StepRun.skipped(self.run_id, n) for n in pending]
        for record in skipped:
            self.status[record.node] = StepStatus.SKIPPED
            self.view.update(record.node, StepStatus.SKIPPED)
        self.backend.pipelines.record_steps(skipped)
        return self.ok

    def _record_cached(self) -> None:
        """Record the steps found in the cache since the last call, in one transaction."""
        if self.cached:
            records, self.cached = self.cached, []
            self.backend.pipelines.record_steps(records)

    def _interrupted(self, pool: WorkerPool) -> None:
        records = self.cached + [
            StepRun.failed(
                r.run_id,
                self.run_id,
                r.node,
                r.key,
                attempts=r.attempt,
                started=r.started,
                error="interrupted: the runner stopped",
            )
            for r in self.running.values()
        ]
        for r in self.running.values():
            pool.kill(r.worker)
            self.backend.tracking.end_run(r.run_id, RunStatus.KILLED)
        self.running.clear()
        self.cached = []
        self.backend.pipelines.record_steps(records)

    def _loop(self, pool: WorkerPool, logdir: str) -> None:
        graph = self.pipeline.graph
        order = graph.order()
        last_beat = time.monotonic()
        while True:
            ready = [
                n
                for n in order
                if self.status[n] == StepStatus.PENDING
                and n not in self.running
                and all(self.status[u] in _OK for u in graph.nodes[n].upstream())
            ]
            tasks = {n: self._task(n) for n in ready}
            keys = {n: cache_key(t) for n, t in tasks.items()}
            wanted = [k for n, k in keys.items() if self.cache and graph.nodes[n].step.cache]
            hits = self.backend.pipelines.find_cached(wanted) if wanted else {}
            found = False
            for n in ready:
                previous = self.reuse.get(n) or hits.get(keys[n])
                if previous is not None and still_stored(self.backend.artifacts, previous):
                    self.cached.append(StepRun.cached(self.run_id, n, keys[n], previous))
                    self.status[n] = StepStatus.CACHED
                    self.outputs[n] = previous.outputs
                    self.view.update(n, StepStatus.CACHED)
                    found = True
            if found:
                continue  # newly cached steps may make more steps ready
            # Nothing more comes from the cache until a step executes: record what did.
            self._record_cached()
            for n in ready:
                if len(self.running) >= self.max_workers:
                    break
                self.running[n] = self._launch(pool, n, tasks[n], keys[n], logdir, 1)
                self.view.update(n, StepStatus.RUNNING)
            if not self.running:
                break
            self._wait(pool, logdir)
            if time.monotonic() - last_beat > HEARTBEAT_EVERY_S:
                last_beat = time.monotonic()
                for r in [self.run_id, *(x.run_id for x in self.running.values())]:
                    self.backend.tracking.heartbeat(r)

    def _task(self, node: str) -> Task:
        n = self.pipeline.graph.nodes[node]
        inputs: dict[str, Artifact] = {}
        literals: dict[str, Any] = {}
        for arg, value in n.args.items():
            if isinstance(value, Ref):
                # JSON values from other steps travel as artifacts too (lineage, cache key).
                inputs[arg] = self.outputs[value.node][value.output]
            elif isinstance(value, Param):
                literals[arg] = self.values[value.name]
            else:
                literals[arg] = value
        for arg, default in n.step.defaults.items():
            if arg not in n.args:
                literals[arg] = default
        for arg, value in list(literals.items()):
            if n.step.inputs.get(arg, ("",))[0] == DATASET and is_dataset_uri(value):
                # Resolved now: the step reads (and is cached on) the version @latest is today.
                inputs[arg] = resolve_input(self.backend, literals.pop(arg))
        return Task(node, n.step, inputs, literals)

    def _launch(
        self, pool: WorkerPool, node: str, task: Task, key: str, logdir: str, attempt: int
    ) -> _Running:
        tags = {"usina.kind": "step", "usina.pipeline_run": self.run_id, "usina.step": node}
        params = {}
        if attempt == 1:
            tags["usina.cache_key"] = key
            params = {
                k: v
                if isinstance(v, str)
                else orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY).decode()
                for k, v in task.values.items()
            }
        else:
            tags["usina.attempt"] = str(attempt)
        step_run = self.backend.tracking.create_run(
            self.pipeline.name, node, params=params, tags=tags
        )
        log_path = os.path.join(logdir, f"{node}.{attempt}.log")
        started = time.time()
        try:
            worker = pool.start(task, log_path, step_run.id, self.run_id)
        except BaseException:
            # Not running yet, so not among those an interruption ends: end its run here.
            self.backend.tracking.end_run(step_run.id, RunStatus.KILLED)
            raise
        deadline = started + task.step.timeout if task.step.timeout else None
        running = _Running(
            node, task, key, step_run.id, started, attempt, worker, log_path, deadline
        )
        self.running[node] = running  # at once: an interruption from here on ends it
        return running

    def _wait(self, pool: WorkerPool, logdir: str) -> None:
        deadlines = [r.deadline for r in self.running.values() if r.deadline is not None]
        timeout = max(0.0, min(deadlines) - time.time()) if deadlines else HEARTBEAT_EVERY_S
        # A live view wants a few frames a second; otherwise wake for deadlines and heartbeats.
        cap = 0.25 if not isinstance(self.view, NullView) else HEARTBEAT_EVERY_S
        ready = wait([r.worker.conn for r in self.running.values()], timeout=min(timeout, cap))
        self.view.tick()
        now = time.time()
        for node, r in list(self.running.items()):
            message: tuple[Any, ...] | None = None
            if r.worker.conn in ready:
                try:
                    message = r.worker.conn.recv()
                    pool.release(r.worker)
                except EOFError:
                    pool.kill(r.worker)
                    message = (
                        "error",
                        f"the worker process exited with code {r.worker.process.exitcode} "
                        "before reporting",
                    )
            elif r.deadline is not None and now >= r.deadline:
                pool.kill(r.worker)
                message = (
                    "error",
                    f"timed out after {r.task.step.timeout:g}s (the step's timeout); "
                    "the attempt was killed",
                )
            if message is not None:
                del self.running[node]
                self._finish(pool, r, message, logdir)

    def _finish(self, pool: WorkerPool, r: _Running, message: tuple[Any, ...], logdir: str) -> None:
        node = r.node
        log_digest = self._store_log(r.log_path)
        if message[0] == "ok":
            outputs: dict[str, Artifact] = message[1]
            for data in message[2].values():
                put_bytes(self.backend.artifacts, data)
            record_success(self.backend, self.pipeline, self.run_id, r, outputs, log_digest)
            self.status[node] = StepStatus.DONE
            self.outputs[node] = outputs
            self.view.update(node, StepStatus.DONE, f"{time.time() - r.started:.2f}s")
            return
        error = str(message[1])
        self.backend.tracking.log_batch(r.run_id, tags={"usina.error": error[-7000:]})
        self.backend.tracking.end_run(r.run_id, RunStatus.FAILED)
        if r.attempt <= r.task.step.retries:
            # The failed attempt stays as a failed tracking run with its error tag.
            self.view.update(node, StepStatus.RUNNING, f"retry {r.attempt}/{r.task.step.retries}")
            self.running[node] = self._launch(pool, node, r.task, r.key, logdir, r.attempt + 1)
            return
        record = StepRun.failed(
            r.run_id,
            self.run_id,
            node,
            r.key,
            attempts=r.attempt,
            started=r.started,
            error=error,
            log_digest=log_digest,
        )
        self.backend.pipelines.record_steps([record])
        self.status[node] = StepStatus.FAILED
        last_line = error.strip().splitlines()[-1] if error.strip() else ""
        self.view.update(node, StepStatus.FAILED, last_line)

    def _store_log(self, path: str) -> str | None:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        finally:
            if os.path.exists(path):
                os.unlink(path)
        return put_bytes(self.backend.artifacts, data).digest if data else None
