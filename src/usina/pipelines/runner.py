"""The local runner: steps in forked worker processes, with caching, retries and timeouts.

One coordinator process walks the graph. A step whose inputs are ready is skipped when an
earlier successful execution had the same cache key (code digest, parameters, input digests);
otherwise it runs in a worker process forked from the coordinator, at most ``max_workers`` at a
time. Only the coordinator writes to the metadata database. Each executed step is a tracking run
in the pipeline's experiment, tagged with its pipeline run; cached steps are recorded as step
runs pointing at the execution they reuse, and write no tracking run (that keeps a cached rerun
to a few milliseconds a step).

Limitation: workers are forked, so the runner needs a platform with ``fork`` (Linux, macOS).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from usina.artifacts import ArtifactStore, blob_key, put_bytes
from usina.errors import InvalidInput
from usina.pipelines.graph import Param, Ref
from usina.pipelines.store import PipelineRun, PipelineStatus, PipelineStore, StepRun, StepStatus
from usina.pipelines.types import DATASET, METRICS, MODEL, Artifact
from usina.pipelines.view import NullView, View
from usina.pipelines.worker import Task, Worker, WorkerPool
from usina.store import Database
from usina.tracking import Metric, RunStatus, SqlTrackingStore

if TYPE_CHECKING:
    from usina.pipelines.dsl import Pipeline

HEARTBEAT_EVERY_S = 10.0


class Backend(Protocol):
    """Where a run keeps its state: ``usina.Client`` is one."""

    db: Database | None  # None for a client of a usina server, which pipelines refuse
    artifacts: ArtifactStore
    actor: str


@dataclass
class _Settings:
    db: Database | None
    artifacts: ArtifactStore
    actor: str


def default_backend() -> Backend:
    """The metadata database and artifact store the ``USINA_*`` settings name."""
    from usina.artifacts import open_artifact_store
    from usina.settings import Settings

    settings = Settings()
    return _Settings(
        Database(settings.resolved_db_url()),
        open_artifact_store(settings.resolved_artifacts()),
        settings.actor,
    )


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


@dataclass
class _State:
    status: dict[str, StepStatus] = field(default_factory=dict)
    outputs: dict[str, dict[str, Artifact]] = field(default_factory=dict)


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
        if backend.db is None:
            raise InvalidInput(
                "pipelines run on the metadata database directly and not through a usina "
                "server yet; use a client made from USINA_DB_URL and USINA_ARTIFACTS",
                field="client",
            )
        self.backend = backend
        self.db: Database = backend.db
        self.max_workers = max_workers or os.cpu_count() or 1
        self.store = PipelineStore(self.db, backend.actor)
        self.tracking = SqlTrackingStore(self.db, backend.actor, artifacts=backend.artifacts)
        self.show = show
        self.view = view

    def run(
        self,
        pipeline: Pipeline,
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
        reuse: dict[str, StepRun] = {}
        resumed_from = None
        if resume is not None:
            previous = self.store.get_run(resume)
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
            resumed_from = resume
            trigger = f"resume:{resume}"
        values = pipeline.resolve_params(params or {})
        run = self.tracking.create_run(
            pipeline.name, f"{pipeline.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
        self.tracking.log_batch(
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
        self.store.create_run(run.id, pipeline.name, pipeline.ref, values, trigger, resumed_from)
        _preload(pipeline)
        view = self.view or _make_view(self.show, pipeline, run.id)
        try:
            state = self._execute(pipeline, run.id, values, cache, reuse, view)
        except BaseException:
            # Interrupted (Ctrl-C) or the database failed: leave nothing marked running.
            self.store.end_run(run.id, PipelineStatus.FAILED)
            self.tracking.end_run(run.id, RunStatus.KILLED)
            raise
        finally:
            view.close()
        ok = all(s in (StepStatus.DONE, StepStatus.CACHED) for s in state.status.values())
        status = PipelineStatus.SUCCEEDED if ok else PipelineStatus.FAILED
        self.store.end_run(run.id, status)
        self.tracking.end_run(run.id, RunStatus.FINISHED if ok else RunStatus.FAILED)
        return self.store.get_run(run.id)

    # -- the loop -------------------------------------------------------------------------

    def _execute(
        self,
        pipeline: Pipeline,
        run_id: str,
        values: dict[str, Any],
        cache: bool,
        reuse: dict[str, StepRun],
        view: View,
    ) -> _State:
        graph = pipeline.graph
        state = _State(status={n: StepStatus.PENDING for n in graph.order()})
        for node in state.status:
            view.update(node, StepStatus.PENDING)
        running: dict[str, _Running] = {}
        keep_bytes = self.backend.artifacts.uri.startswith("memory")
        pool = WorkerPool({n.name: n.step for n in graph}, self.backend.artifacts, keep_bytes)
        logdir = tempfile.mkdtemp(prefix="usina-logs-")
        try:
            self._loop(pipeline, run_id, values, cache, reuse, view, state, running, pool, logdir)
        except BaseException:
            interrupted = [
                StepRun(
                    r.run_id,
                    run_id,
                    r.node,
                    StepStatus.FAILED,
                    r.key,
                    None,
                    r.attempt,
                    r.started,
                    time.time(),
                    {},
                    "interrupted: the runner stopped",
                )
                for r in running.values()
            ]
            for r in running.values():
                pool.kill(r.worker)
                self.tracking.end_run(r.run_id, RunStatus.KILLED)
            running.clear()
            self.store.record_steps(interrupted)
            raise
        finally:
            for r in running.values():
                pool.kill(r.worker)
            pool.close()
            shutil.rmtree(logdir, ignore_errors=True)
        skipped = [
            StepRun(uuid.uuid4().hex, run_id, n, StepStatus.SKIPPED, "")
            for n, s in state.status.items()
            if s == StepStatus.PENDING
        ]
        for record in skipped:
            state.status[record.node] = StepStatus.SKIPPED
            view.update(record.node, StepStatus.SKIPPED)
        self.store.record_steps(skipped)
        return state

    def _loop(
        self,
        pipeline: Pipeline,
        run_id: str,
        values: dict[str, Any],
        cache: bool,
        reuse: dict[str, StepRun],
        view: View,
        state: _State,
        running: dict[str, _Running],
        pool: WorkerPool,
        logdir: str,
    ) -> None:
        graph = pipeline.graph
        order = graph.order()
        last_beat = time.monotonic()
        while True:
            ready = [
                n
                for n in order
                if state.status[n] == StepStatus.PENDING
                and n not in running
                and all(
                    state.status[u] in (StepStatus.DONE, StepStatus.CACHED)
                    for u in graph.nodes[n].upstream()
                )
            ]
            tasks = {n: self._task(pipeline, n, values, state) for n in ready}
            keys = {n: cache_key(t) for n, t in tasks.items()}
            hits = self.store.find_cached_many(
                [k for n, k in keys.items() if cache and graph.nodes[n].step.cache]
            )
            cached_now: list[StepRun] = []
            for n in ready:
                previous = reuse.get(n) or hits.get(keys[n])
                if previous is not None and self._still_stored(previous):
                    record = StepRun(
                        uuid.uuid4().hex,
                        run_id,
                        n,
                        StepStatus.CACHED,
                        keys[n],
                        previous.cached_from or previous.id,
                        0,
                        time.time(),
                        time.time(),
                        previous.outputs,
                    )
                    state.status[n] = StepStatus.CACHED
                    state.outputs[n] = previous.outputs
                    cached_now.append(record)
                    view.update(n, StepStatus.CACHED)
            if cached_now:
                self.store.record_steps(cached_now)
                continue  # newly cached steps may make more steps ready
            for n in ready:
                if len(running) >= self.max_workers:
                    break
                running[n] = self._launch(
                    pool, pipeline.name, run_id, n, tasks[n], keys[n], logdir, 1
                )
                view.update(n, StepStatus.RUNNING)
            if not running:
                break
            self._wait(pipeline, run_id, running, state, pool, logdir, view)
            if time.monotonic() - last_beat > HEARTBEAT_EVERY_S:
                last_beat = time.monotonic()
                for r in [run_id, *(x.run_id for x in running.values())]:
                    self.tracking.heartbeat(r)

    def _task(self, pipeline: Pipeline, node: str, values: dict[str, Any], state: _State) -> Task:
        n = pipeline.graph.nodes[node]
        inputs: dict[str, Artifact] = {}
        literals: dict[str, Any] = {}
        for arg, value in n.args.items():
            if isinstance(value, Ref):
                # JSON values from other steps travel as artifacts too (lineage, cache key).
                inputs[arg] = state.outputs[value.node][value.output]
            elif isinstance(value, Param):
                literals[arg] = values[value.name]
            else:
                literals[arg] = value
        for arg, default in n.step.defaults.items():
            if arg not in n.args:
                literals[arg] = default
        return Task(node, n.step, inputs, literals)

    def _still_stored(self, previous: StepRun) -> bool:
        store = self.backend.artifacts
        return all(
            a.kind not in (DATASET, MODEL) or store.exists(blob_key(a.digest))
            for a in previous.outputs.values()
        )

    def _launch(
        self,
        pool: WorkerPool,
        experiment: str,
        run_id: str,
        node: str,
        task: Task,
        key: str,
        logdir: str,
        attempt: int,
    ) -> _Running:
        tags = {"usina.kind": "step", "usina.pipeline_run": run_id, "usina.step": node}
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
        step_run = self.tracking.create_run(experiment, node, params=params, tags=tags)
        log_path = os.path.join(logdir, f"{node}.{attempt}.log")
        started = time.time()
        worker = pool.start(node, task.inputs, task.values, log_path)
        deadline = started + task.step.timeout if task.step.timeout else None
        return _Running(node, task, key, step_run.id, started, attempt, worker, log_path, deadline)

    def _wait(
        self,
        pipeline: Pipeline,
        run_id: str,
        running: dict[str, _Running],
        state: _State,
        pool: WorkerPool,
        logdir: str,
        view: View,
    ) -> None:
        deadlines = [r.deadline for r in running.values() if r.deadline is not None]
        timeout = max(0.0, min(deadlines) - time.time()) if deadlines else HEARTBEAT_EVERY_S
        # A live view wants a few frames a second; otherwise wake for deadlines and heartbeats.
        cap = 0.25 if not isinstance(view, NullView) else HEARTBEAT_EVERY_S
        ready = wait([r.worker.conn for r in running.values()], timeout=min(timeout, cap))
        view.tick()
        now = time.time()
        for node, r in list(running.items()):
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
            if message is None:
                continue
            del running[node]
            end = time.time()
            log_digest = self._store_log(r.log_path)
            if message[0] == "ok":
                outputs: dict[str, Artifact] = message[1]
                for data in message[2].values():
                    put_bytes(self.backend.artifacts, data)
                self.record_success(pipeline, run_id, r, outputs, end, log_digest)
                state.status[node] = StepStatus.DONE
                state.outputs[node] = outputs
                view.update(node, StepStatus.DONE, f"{end - r.started:.2f}s")
                continue
            error = str(message[1])
            self.tracking.log_batch(r.run_id, tags={"usina.error": error[-7000:]})
            self.tracking.end_run(r.run_id, RunStatus.FAILED)
            if r.attempt <= r.task.step.retries:
                # The failed attempt stays as a failed tracking run with its error tag.
                view.update(node, StepStatus.RUNNING, f"retry {r.attempt}/{r.task.step.retries}")
                running[node] = self._launch(
                    pool, pipeline.name, run_id, node, r.task, r.key, logdir, r.attempt + 1
                )
                continue
            record = StepRun(
                r.run_id,
                run_id,
                node,
                StepStatus.FAILED,
                r.key,
                None,
                r.attempt,
                r.started,
                end,
                {},
                error,
                log_digest,
            )
            self.store.record_steps([record])
            state.status[node] = StepStatus.FAILED
            view.update(
                node, StepStatus.FAILED, error.strip().splitlines()[-1] if error.strip() else ""
            )

    def record_success(
        self,
        pipeline: Pipeline,
        run_id: str,
        r: Attempt,
        outputs: dict[str, Artifact],
        end: float,
        log_digest: str | None,
    ) -> None:
        metrics = [
            Metric(k, float(v), 0, end)
            for a in outputs.values()
            if a.kind == METRICS
            for k, v in a.value.items()
        ]
        if metrics:
            self.tracking.log_batch(r.run_id, metrics=metrics)
        for name, a in r.task.inputs.items():
            if a.kind == DATASET:
                self.tracking.log_input(r.run_id, name, a.digest, a.rows)
        for name, a in outputs.items():
            if a.kind in (DATASET, MODEL):
                self.tracking.log_artifact(r.run_id, f"outputs/{name}", a.digest, a.size)
        record = StepRun(
            r.run_id,
            run_id,
            r.node,
            StepStatus.DONE,
            r.key,
            None,
            r.attempt,
            r.started,
            end,
            outputs,
            "",
            log_digest,
        )
        self.store.record_steps([record], {r.run_id: r.task.inputs})
        if r.task.step.register:
            self._register(pipeline, r, outputs)
        self.tracking.end_run(r.run_id, RunStatus.FINISHED)

    def _register(self, pipeline: Pipeline, r: Attempt, outputs: dict[str, Artifact]) -> None:
        from usina.registry import Signature, SqlRegistryStore

        model = next(a for a in outputs.values() if a.kind == MODEL)
        metrics = {
            k: float(v) for a in outputs.values() if a.kind == METRICS for k, v in a.value.items()
        }
        SqlRegistryStore(
            self.db, self.backend.actor, artifacts=self.backend.artifacts
        ).create_version(
            r.task.step.register or "",
            digest=model.digest,
            size=model.size,
            format=model.format or "",
            model_class=model.model_class or "",
            signature=self._signature(model, r.task.inputs) or Signature(),
            metrics=metrics,
            run_id=r.run_id,
            description=f"pipeline {pipeline.name}, step {r.node}",
        )

    def _signature(self, model: Artifact, inputs: dict[str, Artifact]) -> Any:
        """The model's input columns, typed from the dataset it was trained on."""
        from usina.registry import Column, Signature
        from usina.registry.signature import type_name

        if not model.features:
            return None
        for artifact in inputs.values():
            if artifact.kind != DATASET:
                continue
            import pyarrow.parquet as pq

            with self.backend.artifacts.open(blob_key(artifact.digest)) as f:
                schema = pq.read_schema(f)
            types = {field.name: field.type for field in schema}
            if all(name in types for name in model.features):
                return Signature(tuple(Column(n, type_name(types[n])) for n in model.features))
        return None

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


def _preload(pipeline: Pipeline) -> None:
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


def _make_view(show: bool, pipeline: Pipeline, run_id: str) -> View:
    if not show:
        return NullView()
    from usina.pipelines.view import RichView

    return RichView(pipeline.name, run_id, list(pipeline.graph.order()))
