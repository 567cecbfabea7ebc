"""What tracking returns: frozen records, never live database rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run is in its life."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"


@dataclass(frozen=True)
class Experiment:
    """A named group of runs."""

    id: int
    name: str
    created_at: float
    created_by: str
    run_count: int = 0


@dataclass(frozen=True)
class Metric:
    """One logged value of a metric."""

    key: str
    value: float
    step: int
    timestamp: float


@dataclass(frozen=True)
class RunArtifact:
    """A file logged by a run, stored under its digest."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class RunInput:
    """A dataset a run read, by name and content digest."""

    name: str
    digest: str
    rows: int | None


@dataclass(frozen=True)
class Run:
    """A tracked run; ``metrics`` holds the latest value of each metric (highest step)."""

    id: str
    experiment: str
    name: str
    status: RunStatus
    start_time: float
    end_time: float | None
    created_by: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: tuple[RunArtifact, ...] = ()
    inputs: tuple[RunInput, ...] = ()
