"""The tracking store protocols: ``SqlTrackingStore`` on the database, ``HttpTrackingStore`` on
a server. Both pass ``usina.testing.check_tracking_store``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from usina.tracking.entities import Experiment, Metric, Run, RunStatus


class RunLog(Protocol):
    """The writes an ``ActiveRun`` makes: start a run, log to it, keep it alive, end it."""

    heartbeat_timeout: float

    def create_run(
        self,
        experiment: str,
        name: str | None = None,
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Run:
        """Start a run in ``experiment`` (created on first use) with its first params and tags."""
        ...

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Record metrics, params and tags in one transaction."""
        ...

    def log_artifact(self, run_id: str, path: str, digest: str, size: int) -> None:
        """Record that ``path`` of the run holds the blob ``digest``."""
        ...

    def log_input(self, run_id: str, name: str, digest: str, rows: int | None = None) -> None:
        """Record a dataset the run read."""
        ...

    def heartbeat(self, run_id: str) -> None:
        """Mark a running run alive."""
        ...

    def end_run(self, run_id: str, status: RunStatus) -> None:
        """Close a running run with its final status."""
        ...


class RunReader(Protocol):
    """What was logged: runs and experiments, paged with ``limit`` and ``offset``."""

    def get_run(self, run_id: str) -> Run:
        """A run with everything it logged; ``NotFound`` if absent."""
        ...

    def list_runs(
        self,
        experiment: str | None = None,
        status: str | None = None,
        limit: int = 100,
        *,
        offset: int = 0,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[Run]:
        """Runs, newest first, filtered by experiment, status, name (substring), tags (all
        must match) and start time (``since`` inclusive, ``until`` exclusive)."""
        ...

    def list_experiments(
        self, name: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[Experiment]:
        """Experiments by name (those whose name contains ``name``), with their run counts."""
        ...

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every logged value of one metric, by step."""
        ...


class TrackingStore(RunLog, RunReader, Protocol):
    """Experiments and runs, with their params, metrics, tags, artifacts and inputs."""
