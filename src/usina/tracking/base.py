"""The tracking store protocol: the SQL store implements it today, an HTTP store later."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from usina.tracking.entities import Experiment, Metric, Run, RunStatus


class TrackingStore(Protocol):
    """Experiments and runs, with their params, metrics, tags, artifacts and inputs."""

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

    def end_run(self, run_id: str, status: RunStatus) -> None:
        """Close a running run with its final status."""
        ...

    def get_run(self, run_id: str) -> Run:
        """A run with everything it logged; ``NotFound`` if absent."""
        ...

    def list_runs(
        self, experiment: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[Run]:
        """Runs, newest first."""
        ...

    def list_experiments(self) -> list[Experiment]:
        """Every experiment with its run count."""
        ...
