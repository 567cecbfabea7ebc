"""``run``: score a table with the version an alias points at, into a partitioned table."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from usina.artifacts import ArtifactStore
from usina.artifacts.content import put_bytes, read_bytes
from usina.artifacts.memory import MemoryArtifactStore
from usina.batch.entities import JobEnd, JobStart, JobStatus, check_job_name
from usina.batch.scoring import Scored, Scorer, repeated_columns
from usina.batch.sources import open_input
from usina.batch.tables import Publication, check_table_name, partition_path, recover
from usina.errors import InvalidInput, UsinaError
from usina.registry import ModelVersion, RegistryStore, parse_model_uri
from usina.serving.runtime import load_version

# Rows per output file: large enough for efficient Parquet, small enough to bound the local
# temporary file each part is written to before it is stored.
ROWS_PER_FILE = 2_000_000
ON_ERROR = ("fail", "skip")
ENGINES = ("local", "ray")
# The longest wait between two heartbeats of a running job (shorter when the installation's
# heartbeat_timeout is short: four beats fit in one timeout).
HEARTBEAT_INTERVAL_S = 10.0


class Installation(Protocol):
    """What a job needs of a client: the registry and the artifact store."""

    @property
    def registry(self) -> RegistryStore: ...

    artifacts: ArtifactStore


@dataclass(frozen=True)
class BatchRun:
    """What a finished job did."""

    job_name: str
    model_uri: str
    name: str
    version: int
    input: str
    output: str
    partition: dict[str, str]
    rows_in: int
    rows_out: int
    rows_rejected: int
    files: tuple[str, ...]
    started_at: float
    ended_at: float
    id: str = ""
    engine: str = "local"

    @property
    def rows_per_second(self) -> float:
        elapsed = self.ended_at - self.started_at
        return self.rows_in / elapsed if elapsed > 0 else 0.0


Progress = Callable[[int], None]


def check_on_error(on_error: str) -> str:
    if on_error not in ON_ERROR:
        raise InvalidInput(f"on_error must be 'fail' or 'skip', not {on_error!r}", field="on_error")
    return on_error


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise InvalidInput(f"engine must be 'local' or 'ray', not {engine!r}", field="engine")
    return engine


def resolve(client: Installation, model: str) -> ModelVersion:
    """The version ``model`` points at now (``models:/name@alias``, ``/N`` or latest)."""
    return client.registry.resolve(parse_model_uri(model))


def score_table(
    client: Installation,
    version: ModelVersion,
    *,
    job_name: str,
    model: str,
    input: str,
    output: str,
    partition: dict[str, str] | None = None,
    keys: list[str] | None = None,
    on_error: str = "fail",
    trusted: bool = False,
    progress: Progress | None = None,
    attempt: str | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    fast_predict: bool = True,
) -> BatchRun:
    """Score ``input`` with the already resolved ``version`` and publish the output partition.

    ``engine="ray"`` scores on Ray Data (``ray_address``, see :func:`run`); the partitions are
    written and published here, as with the local engine.

    Raises:
        InvalidInput: a bad argument, an unreadable input or one that does not fit the model's
            signature (before any row is scored), or a row that cannot be scored when
            ``on_error="fail"``. Nothing is published in any of these cases.
    """
    check_table_name(output)
    check_on_error(on_error)
    check_engine(engine)
    partition = {str(k): str(v) for k, v in (partition or {}).items()}
    partition_path(partition)  # checks names and values before anything is read
    keys = list(keys or [])
    started = time.time()
    store = client.artifacts
    recover(store)
    blob = b""
    if engine == "ray":
        # Read once here and handed to the actors, which need no access to the store.
        blob = read_bytes(store, version.digest)
        held = MemoryArtifactStore()
        put_bytes(held, blob)
        loaded = load_version(version, held, trusted=trusted, fast_predict=fast_predict)
    else:
        loaded = load_version(version, store, trusted=trusted, fast_predict=fast_predict)
    scorer = Scorer(loaded, keys, partition)
    reader = open_input(input)
    publication = Publication(store, attempt)
    rows_in = rows_out = rows_rejected = 0
    try:
        scorer.check_schema(reader.schema)
        scored_batches: Iterator[tuple[int, Scored]]
        with contextlib.ExitStack() as engine_context:
            if engine == "ray":
                from usina.batch.ray_engine import connected, score_on_ray

                engine_context.enter_context(connected(ray_address))
                scored_batches = engine_context.enter_context(
                    contextlib.closing(
                        score_on_ray(
                            input,
                            reader,
                            version,
                            blob,
                            keys=keys,
                            partition=partition,
                            trusted=trusted,
                            fast_predict=fast_predict,
                        )
                    )
                )
            else:
                scored_batches = ((b.num_rows, scorer.score(b)) for b in reader if b.num_rows)
            rows_in, rows_out, rows_rejected = _write_scored(
                scored_batches, publication, output, partition, on_error, progress
            )
        # Both partitions are replaced, so a rerun leaves no rejects of an earlier run behind.
        publication.declare(output, partition)
        publication.declare(f"{output}_rejects", partition)
        publication.publish()
    except BaseException:
        with contextlib.suppress(Exception):
            publication.abandon()
        raise
    finally:
        with contextlib.suppress(Exception):
            close = getattr(reader, "close", None)
            if close is not None:
                close()
    files = tuple(publication.published)
    return BatchRun(
        job_name=job_name,
        model_uri=model,
        name=version.name,
        version=version.version,
        input=input,
        output=output,
        partition=partition,
        rows_in=rows_in,
        rows_out=rows_out,
        rows_rejected=rows_rejected,
        files=files,
        started_at=started,
        ended_at=time.time(),
        id=publication.attempt,
        engine=engine,
    )


def _write_scored(
    scored_batches: Iterator[tuple[int, Scored]],
    publication: Publication,
    output: str,
    partition: dict[str, str],
    on_error: str,
    progress: Progress | None,
) -> tuple[int, int, int]:
    """Stage every scored batch (either engine's), applying the rejects policy; returns the
    rows in, out and rejected. Nothing is published here."""
    rows_in = rows_out = rows_rejected = 0
    background = _Background()
    outputs = _PartWriter(
        publication, output, partition, background, dictionary=repeated_columns(partition)
    )
    rejects = _PartWriter(publication, f"{output}_rejects", partition, background)
    try:
        for batch_rows, scored in scored_batches:
            if scored.rejects is not None:
                if on_error == "fail":
                    first = scored.rejects.column("reason")[0].as_py()
                    row = rows_in + scored.first_rejected
                    raise InvalidInput(
                        f"row {row} cannot be scored: {first}; nothing was written (fix the "
                        "input, or run with on_error='skip' to write such rows to "
                        f"{output}_rejects)",
                        field=first.split(" ", 1)[0],
                    )
                rows_rejected += scored.rejects.num_rows
                rejects.write(scored.rejects)
            if scored.output is not None:
                rows_out += scored.output.num_rows
                outputs.write(scored.output)
            rows_in += batch_rows
            if progress is not None:
                progress(batch_rows)
        outputs.close()
        rejects.close()
        background.drain()
    except BaseException:
        background.abandon()
        outputs.discard()
        rejects.discard()
        raise
    return rows_in, rows_out, rows_rejected


def _step_of(client: Any) -> Any:
    """The pipeline step running here when it records through ``client``, else ``None``."""
    from usina.pipelines.step_context import current_step

    step = current_step()
    return step if step is not None and step.backend is client else None


def record_in_step(
    client: Any, step_run_id: str, version: ModelVersion, job_name: str, job_id: str
) -> None:
    """A job run inside a pipeline step records, on the step's run, that the step read the
    version (an input named ``models/NAME/N`` with the version's digest) and which job it ran
    (the tag ``batch_job/JOB_NAME`` holding the job's id)."""
    name = f"models/{version.name}/{version.version}"
    client.tracking.log_input(step_run_id, name, version.digest)
    client.tracking.log_batch(step_run_id, tags={f"batch_job/{job_name}": job_id})


class Heartbeat:
    """A thread that beats a running job's heartbeat until stopped, so readers can tell a
    killed job (its heartbeat goes stale) from a slow one. One beat at a time: a beat that
    fails (the server is briefly away) is counted in ``missed`` and retried next interval."""

    def __init__(self, jobs: Any, job_id: str) -> None:
        self.jobs = jobs
        self.job_id = job_id
        timeout = float(getattr(jobs, "heartbeat_timeout", 60.0))
        self.interval = min(HEARTBEAT_INTERVAL_S, timeout / 4)
        self.beats = 0
        self.missed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"usina-batch-heartbeat-{job_id[:8]}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.jobs.heartbeat(self.job_id)
                self.beats += 1
            except Exception:  # noqa: BLE001 - the next beat retries; a stale job is failed
                self.missed += 1


class _Background:
    """One thread that writes Parquet while the next batch is scored, at most ``DEPTH`` batches
    behind (so memory stays bounded); its first error is raised on the scoring thread."""

    DEPTH = 2

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usina-batch-writer")
        self._pending: collections.deque[Any] = collections.deque()

    def submit(self, fn: Callable[[], None]) -> None:
        self._pending.append(self._pool.submit(fn))
        while len(self._pending) > self.DEPTH:
            self._pending.popleft().result()

    def drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()
        self._pool.shutdown()

    def abandon(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)
        self._pending.clear()


class _PartWriter:
    """Parquet parts of one table, written to a local temporary file and stored when full.

    Writes happen on the background thread, in order; ``close`` queues the last store.
    ``dictionary`` names the columns dictionary-encoded, ``None`` for every column (Parquet's
    default, kept for the rejects, whose input columns may repeat values).
    """

    def __init__(
        self,
        publication: Publication,
        table: str,
        partition: dict[str, str],
        background: _Background,
        dictionary: list[str] | None = None,
    ) -> None:
        self.publication = publication
        self.table = table
        self.partition = partition
        self.background = background
        self.dictionary: list[str] | bool = True if dictionary is None else dictionary
        self.index = 0
        self.rows = 0
        self._writer: Any = None
        self._path: str | None = None

    def write(self, batch: Any) -> None:
        self.background.submit(lambda: self._write(batch))

    def _write(self, batch: Any) -> None:
        import pyarrow.parquet as pq

        if self._writer is None:
            fd, self._path = tempfile.mkstemp(prefix="usina-batch-", suffix=".parquet")
            os.close(fd)
            self._writer = pq.ParquetWriter(
                self._path, batch.schema, compression="zstd", use_dictionary=self.dictionary
            )
        self._writer.write_batch(batch)
        self.rows += batch.num_rows
        if self.rows >= ROWS_PER_FILE:
            self._store()

    def _store(self) -> None:
        if self._writer is None or self._path is None:
            return
        self._writer.close()
        key = self.publication.stage_key(self.table, self.partition, self.index)
        with open(self._path, "rb") as data:
            self.publication.store.write(key, data)
        os.unlink(self._path)
        self._writer, self._path = None, None
        self.index += 1
        self.rows = 0

    def close(self) -> None:
        self.background.submit(self._store)

    def discard(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
        self._writer, self._path = None, None


def run(
    job_name: str,
    model: str,
    input: str,
    output: str,
    partition: dict[str, str] | None = None,
    keys: list[str] | None = None,
    on_error: str = "fail",
    client: Any = None,
    *,
    trusted: bool = False,
    progress: Progress | None = None,
    trigger: str = "",
    job_id: str | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    fast_predict: bool = True,
) -> BatchRun:
    """Score ``input`` with the version ``model`` points at and publish the output partition.

    The version is resolved once, before the first row is read: if the alias moves while the
    job runs, every row is still scored, and tagged, with the version it pointed at the start.

    Args:
        job_name: the job's name (runs of the same job share it).
        model: ``models:/name@alias``, ``models:/name/N`` or ``models:/name`` (latest).
        input: a Parquet file or folder, a CSV file, or a ``select ...`` run by DuckDB.
        output: the table written under ``tables/<output>/`` in the artifact store.
        partition: the partition written, as ``{"run_date": "2026-12-01"}``; a rerun replaces
            it wholly. ``None`` replaces the whole table.
        keys: input columns copied to the output to identify rows.
        on_error: ``"fail"`` stops at the first row that cannot be scored, writing nothing;
            ``"skip"`` writes such rows with their reason to ``<output>_rejects``.
        client: a ``usina.Client``; the default client when ``None``.
        trusted: allow a version stored as a pickle.
        progress: called with each batch's row count as it is scored.
        trigger: what started the job, recorded with it (``schedule:NAME@TIME``); inside a
            pipeline step, ``step:PIPELINE_RUN_ID/NODE`` by default, and the step's run records
            the version as an input and the job's id as the tag ``batch_job/JOB_NAME``.
        job_id: the id the job is recorded under (32 hex digits); a new one when ``None``.
        engine: ``"local"`` scores in this process; ``"ray"`` on Ray Data, with an actor pool
            that loads the version once per actor (see docs/batch.md). The output is the same.
        ray_address: the Ray cluster for ``engine="ray"`` (``ray://host:10001``); ``None`` or
            empty starts a local Ray (or joins the one ``RAY_ADDRESS`` names, or the one this
            process is already connected to).
        fast_predict: score with the fast predictor serving compiles for tree ensembles and
            linear models (the same answers, checked when it is built); ``False`` calls the
            model's own ``predict``.

    Raises:
        InvalidInput: see :func:`score_table`; ``NotFound``: the model or alias does not exist.

    Example:
        >>> from usina.batch import run  # doctest: +SKIP
        >>> run("nightly", "models:/credit-risk@champion", "applicants.parquet",
        ...     "credit_scores", partition={"run_date": "2026-12-01"}, keys=["id"])
    """
    if client is None:
        from usina.api import get_client

        client = get_client()
    check_table_name(output)
    check_on_error(on_error)
    check_engine(engine)
    version = resolve(client, model)
    job_id = job_id or uuid.uuid4().hex
    step = _step_of(client)
    if step is not None and not trigger:
        trigger = f"step:{step.pipeline_run_id}/{step.node}"
    jobs = getattr(client, "batch", None)
    if jobs is not None:
        jobs.start(
            JobStart(
                job_id,
                check_job_name(job_name),
                model,
                version.name,
                version.version,
                input,
                output,
                {str(k): str(v) for k, v in (partition or {}).items()},
                trigger,
            )
        )
    try:
        if step is not None:
            record_in_step(client, step.run_id, version, job_name, job_id)
        with contextlib.ExitStack() as alive:
            if jobs is not None:
                alive.enter_context(Heartbeat(jobs, job_id))
            done = score_table(
                client,
                version,
                job_name=job_name,
                model=model,
                input=input,
                output=output,
                partition=partition,
                keys=keys,
                on_error=on_error,
                trusted=trusted,
                progress=progress,
                attempt=f"{int(time.time()):010d}-{job_id}",
                engine=engine,
                ray_address=ray_address,
                fast_predict=fast_predict,
            )
    except BaseException as exc:
        if jobs is not None:
            message = str(exc) if isinstance(exc, UsinaError) else f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                jobs.finish(job_id, JobEnd(JobStatus.FAILED, error=message))
        raise
    done = dataclasses.replace(done, id=job_id)
    if jobs is not None:
        jobs.finish(
            job_id,
            JobEnd(
                JobStatus.SUCCEEDED, done.rows_in, done.rows_out, done.rows_rejected, "", done.files
            ),
        )
    return done
