"""The pipeline store protocols: pipeline runs (``SqlPipelineStore`` on the database,
``HttpPipelineStore`` on a server) and schedules (``SqlScheduleStore``, ``HttpScheduleStore``).
Both pairs pass ``usina.testing.check_pipeline_store`` and ``check_schedule_store``.

Example:
    >>> import usina
    >>> client = usina.Client("sqlite://", "memory://")
    >>> client.pipelines.list_runs()
    []
    >>> client.schedules.list()
    []
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from usina.pipelines.entities import (
    ArtifactLink,
    ArtifactUse,
    Fire,
    PipelineRun,
    PipelineStatus,
    Schedule,
    StepRun,
)
from usina.pipelines.types import Artifact

if TYPE_CHECKING:
    from usina.artifacts import ArtifactStore
    from usina.pipelines.graph import Graph
    from usina.registry import RegistryStore
    from usina.tracking import TrackingStore


class PipelineRunLog(Protocol):
    """The writes a runner makes: start a pipeline run, record its steps, end it."""

    def create_run(
        self,
        run_id: str,
        pipeline: str,
        ref: str,
        params: Mapping[str, Any],
        trigger: str,
        resumed_from: str | None = None,
        *,
        exist_ok: bool = False,
    ) -> PipelineRun:
        """Start a pipeline run under ``run_id`` (its tracking run's id); ``Conflict`` if the
        id is taken, unless ``exist_ok`` (every task of a compiled run starts it)."""
        ...

    def record_steps(
        self,
        steps: Iterable[StepRun],
        inputs: Mapping[str, Mapping[str, Artifact]] | None = None,
    ) -> None:
        """Insert or replace step runs of one pipeline run, with the artifacts each executed
        step read (``inputs``, by step run id) and wrote, in one transaction."""
        ...

    def end_run(self, run_id: str, status: PipelineStatus | str) -> None:
        """Close a running pipeline run with ``succeeded`` or ``failed``."""
        ...

    def find_cached(self, cache_keys: Iterable[str]) -> dict[str, StepRun]:
        """The latest successful execution for each of these cache keys that has one."""
        ...


class PipelineRunReader(Protocol):
    """What ran: pipeline runs, step runs and the artifacts they read and wrote."""

    def get_run(self, run_id: str) -> PipelineRun:
        """A pipeline run with its step runs; ``NotFound`` if absent."""
        ...

    def list_runs(
        self,
        pipeline: str | None = None,
        trigger_prefix: str | None = None,
        limit: int = 50,
        *,
        offset: int = 0,
    ) -> list[PipelineRun]:
        """Pipeline runs (without their steps), newest first."""
        ...

    def get_step(self, step_run_id: str) -> StepRun:
        """One step run; ``NotFound`` if absent."""
        ...

    def step_links(self, step_run_id: str) -> list[ArtifactLink]:
        """The artifacts an executed step read and wrote (none for cached or failed steps)."""
        ...

    def artifact_use(self, digest: str) -> ArtifactUse:
        """The step runs that produced the artifact ``digest`` and those that read it."""
        ...


class PipelineStore(PipelineRunLog, PipelineRunReader, Protocol):
    """Pipeline runs, step runs, their logs (by digest) and lineage links."""


class ScheduleStore(Protocol):
    """Cron triggers for pipelines: create, list, pause, resume, delete, and what fired."""

    def create(
        self,
        name: str,
        pipeline: str,
        cron: str,
        params: Mapping[str, Any] | None = None,
        catchup: str = "skip",
        now: float | None = None,
    ) -> Schedule:
        """Add a schedule; its first tick is the first cron time after ``now``."""
        ...

    def get(self, name: str) -> Schedule:
        """One schedule; ``NotFound`` if absent."""
        ...

    def list(self) -> builtins.list[Schedule]:
        """Every schedule, by name."""
        ...

    def set_paused(self, name: str, paused: bool, now: float | None = None) -> Schedule:
        """Pause, or resume from the first tick after ``now`` (missed ticks are not run)."""
        ...

    def delete(self, name: str) -> None:
        """Remove a schedule (its fires and runs stay)."""
        ...

    def fires(self, name: str | None = None) -> builtins.list[Fire]:
        """Claimed ticks, oldest first."""
        ...


class ScheduleLease(Protocol):
    """What schedulers share so each tick fires once: one lease, and claims of ticks."""

    def acquire_lease(self, holder: str, lease_s: float, now: float | None = None) -> bool:
        """Take or renew the scheduler lease; ``True`` when ``holder`` leads until
        ``now + lease_s``. Another holder's unexpired lease is never taken."""
        ...

    def release_lease(self, holder: str) -> None:
        """Give the lease back, if ``holder`` has it."""
        ...

    def claim_tick(
        self,
        name: str,
        expected_next_tick: float,
        tick: float,
        upcoming: float,
        missed: int,
        holder: str,
    ) -> bool:
        """Claim ``tick`` of schedule ``name`` by compare-and-set on its ``next_tick``
        (moved to ``upcoming``) and a fire row; ``False`` when another scheduler claimed it."""
        ...

    def link_fire(self, name: str, tick: float, pipeline_run_id: str) -> None:
        """Record the pipeline run a claimed tick started."""
        ...


class SchedulerStore(ScheduleStore, ScheduleLease, Protocol):
    """Everything a scheduler needs: the schedules and the lease."""


class Backend(Protocol):
    """Where a pipeline run keeps its state: ``usina.Client`` is one, on a database or on a
    server. Steps execute where the runner is; what they record goes to these stores."""

    @property
    def tracking(self) -> TrackingStore: ...

    @property
    def registry(self) -> RegistryStore: ...

    @property
    def pipelines(self) -> PipelineStore: ...

    @property
    def artifacts(self) -> ArtifactStore: ...

    @property
    def actor(self) -> str: ...


class PipelineSpec(Protocol):
    """What a runner needs of a pipeline (``usina.pipelines.Pipeline`` is one): a protocol,
    so the runner never imports the DSL that calls it."""

    name: str
    ref: str
    graph: Graph

    def resolve_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The parameter values, defaults filled in and types checked."""
        ...
