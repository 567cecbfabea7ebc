"""The run a process is logging to: metrics are buffered and written in batches."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from usina.artifacts import ArtifactStore, check_key, put_file
from usina.errors import InvalidInput
from usina.tracking.base import TrackingStore
from usina.tracking.checks import metric
from usina.tracking.entities import Metric, Run, RunStatus

FLUSH_EVERY = 1000
MAX_BUFFERED = 100_000
FLUSH_INTERVAL_S = 1.0
HEARTBEAT_INTERVAL_S = 10.0


class ActiveRun:
    """A running run: log params, metrics, tags, artifacts and inputs to it.

    Metrics are buffered in memory and written by a background thread as soon as
    ``FLUSH_EVERY`` values wait, at least every ``FLUSH_INTERVAL_S`` seconds, and when the run
    ends; logging never waits for the database unless ``MAX_BUFFERED`` values pile up. The same
    thread beats the run's heartbeat; a run whose process died is failed once it goes stale.

    Example:
        >>> import usina
        >>> with usina.start_run(experiment="credit-risk") as run:  # doctest: +SKIP
        ...     run.log_params({"C": 0.5})
        ...     run.log_metrics({"auc": 0.91}, step=0)
    """

    def __init__(self, store: TrackingStore, artifacts: ArtifactStore, run: Run) -> None:
        self.store = store
        self.artifacts = artifacts
        self.info = run
        self.id = run.id
        self._buffer: list[Metric] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._ended = False
        self._thread = threading.Thread(
            target=self._background, name=f"usina-run-{run.id[:8]}", daemon=True
        )
        self._thread.start()

    # -- logging --------------------------------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        """Record one parameter; a param cannot change once logged."""
        self.store.log_batch(self.id, params={key: value})

    def log_params(self, params: dict[str, Any]) -> None:
        """Record several parameters at once."""
        self.store.log_batch(self.id, params=params)

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag (tags, unlike params, can be overwritten)."""
        self.store.log_batch(self.id, tags={key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Set several tags at once."""
        self.store.log_batch(self.id, tags=tags)

    def log_metric(
        self, key: str, value: Any, step: int = 0, timestamp: float | None = None
    ) -> None:
        """Buffer one metric value; it is written within ``FLUSH_INTERVAL_S`` seconds."""
        self._buffer_metrics([metric(key, value, step, timestamp)])

    def log_metrics(
        self, metrics: dict[str, Any], step: int = 0, timestamp: float | None = None
    ) -> None:
        """Buffer several metrics at the same step."""
        self._buffer_metrics([metric(k, v, step, timestamp) for k, v in metrics.items()])

    def log_batch(
        self,
        metrics: Iterable[Metric | tuple[str, Any, int]] = (),
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
    ) -> None:
        """Log many values at once: metrics as ``(key, value, step)`` tuples (buffered, like
        ``log_metric``), params and tags written now. Every value is checked first, so a bad
        one rejects the whole batch."""
        items = [
            metric(m.key, m.value, m.step, m.timestamp) if isinstance(m, Metric) else metric(*m)
            for m in metrics
        ]
        if params or tags:
            self.store.log_batch(self.id, params=params, tags=tags)
        self._buffer_metrics(items)

    def log_artifact(
        self, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Store a file (or every file under a folder) with the run.

        Args:
            local_path: the file or folder to store.
            artifact_path: the name under the run; the file's own name by default, or a
                folder prefix when ``local_path`` is a folder.
        """
        source = Path(local_path)
        if source.is_dir():
            prefix = artifact_path or source.name
            for file in sorted(p for p in source.rglob("*") if p.is_file()):
                self._log_file(file, f"{prefix}/{file.relative_to(source).as_posix()}")
        elif source.is_file():
            self._log_file(source, artifact_path or source.name)
        else:
            raise InvalidInput(f"no file or folder at {str(source)!r} to log", field="local_path")

    def log_input(self, name: str, digest: str, rows: int | None = None) -> None:
        """Record a dataset the run read, by name and content digest (lineage)."""
        self.store.log_input(self.id, name, digest, rows)

    def _buffer_metrics(self, items: list[Metric]) -> None:
        with self._lock:
            self._buffer.extend(items)
            size = len(self._buffer)
        if size >= MAX_BUFFERED:
            self.flush()  # the writer has fallen far behind: make the caller wait for it
        elif size >= FLUSH_EVERY:
            self._wake.set()  # the background thread writes; the caller goes on

    def flush(self) -> None:
        """Write buffered metrics now; raises if the store refuses them (they stay buffered)."""
        with self._lock:
            batch, self._buffer = self._buffer, []
        if not batch:
            return
        try:
            self.store.log_batch(self.id, metrics=batch)
        except BaseException:
            with self._lock:  # keep the values for the next attempt
                self._buffer[:0] = batch
            raise

    # -- life -----------------------------------------------------------------------------

    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        """Flush and close the run with ``status``; calling it twice is harmless."""
        if self._ended:
            return
        self._ended = True
        self._stop.set()
        self._wake.set()
        self._thread.join()
        try:
            self.flush()
        finally:
            self.store.end_run(self.id, RunStatus(status))

    def get(self) -> Run:
        """The run as stored now (flushes first)."""
        self.flush()
        return self.store.get_run(self.id)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end(RunStatus.KILLED)
        else:
            self.end(RunStatus.FAILED)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id} experiment={self.info.experiment!r}>"

    def _log_file(self, file: Path, name: str) -> None:
        check_key(name)
        blob = put_file(self.artifacts, file)
        self.store.log_artifact(self.id, name, blob.digest, blob.size)

    def _background(self) -> None:
        beat_every = min(HEARTBEAT_INTERVAL_S, self.store.heartbeat_timeout / 4)
        tick = min(FLUSH_INTERVAL_S, beat_every)
        last_flush = last_beat = time.monotonic()
        while not self._stop.is_set():
            woken = self._wake.wait(tick)
            self._wake.clear()
            if self._stop.is_set():
                return
            now = time.monotonic()
            try:
                if woken or now - last_flush >= FLUSH_INTERVAL_S:
                    last_flush = now
                    self.flush()
                if now - last_beat >= beat_every:
                    last_beat = now
                    self.store.heartbeat(self.id)
            except Exception:  # noqa: BLE001 - retried next tick; end() raises it
                continue
