"""Pipeline runs and schedules on a usina server, through its REST API: the same protocols
as the SQL stores (the server runs those, so both refuse the same input)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any

from usina.connection import ServerConnection, segment
from usina.errors import InvalidInput
from usina.pipelines.entities import (
    ArtifactLink,
    ArtifactUse,
    Fire,
    PipelineRun,
    PipelineStatus,
    Schedule,
    StepRun,
    StepStatus,
)
from usina.pipelines.types import Artifact

PAGE = 1000


def step_to_json(s: StepRun) -> dict[str, Any]:
    """A step run as the API's JSON."""
    return {
        "id": s.id,
        "pipeline_run_id": s.pipeline_run_id,
        "node": s.node,
        "status": str(s.status),
        "cache_key": s.cache_key,
        "cached_from": s.cached_from,
        "attempts": s.attempts,
        "start_time": s.start_time,
        "end_time": s.end_time,
        "outputs": {k: a.to_json() for k, a in s.outputs.items()},
        "error": s.error,
        "log_digest": s.log_digest,
    }


def step_from_json(d: dict[str, Any]) -> StepRun:
    return StepRun(
        d["id"],
        d["pipeline_run_id"],
        d["node"],
        StepStatus(d["status"]),
        d["cache_key"],
        d["cached_from"],
        d["attempts"],
        d["start_time"],
        d["end_time"],
        {k: Artifact.from_json(a) for k, a in d["outputs"].items()},
        d["error"],
        d["log_digest"],
    )


def run_from_json(d: dict[str, Any]) -> PipelineRun:
    return PipelineRun(
        d["id"],
        d["pipeline"],
        d["ref"],
        dict(d["params"]),
        PipelineStatus(d["status"]),
        d["trigger"],
        d["resumed_from"],
        d["start_time"],
        d["end_time"],
        d["created_by"],
        tuple(step_from_json(s) for s in d["steps"]),
    )


def schedule_from_json(d: dict[str, Any]) -> Schedule:
    return Schedule(
        d["name"],
        d["pipeline"],
        d["cron"],
        dict(d["params"]),
        d["catchup"],
        d["paused"],
        d["next_tick"],
        d["last_tick"],
        d["created_at"],
        d["created_by"],
    )


class HttpPipelineStore:
    """Pipeline runs kept by the server ``server`` talks to."""

    def __init__(self, server: ServerConnection) -> None:
        self.server = server

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
        body = {
            "id": run_id,
            "pipeline": pipeline,
            "ref": ref,
            "params": dict(params),
            "trigger": trigger,
            "resumed_from": resumed_from,
            "exist_ok": exist_ok,
        }
        return run_from_json(self.server.call("POST", "/pipeline-runs", json=body))

    def record_steps(
        self,
        steps: Iterable[StepRun],
        inputs: Mapping[str, Mapping[str, Artifact]] | None = None,
    ) -> None:
        rows = list(steps)
        if not rows:
            return
        body = {
            "steps": [step_to_json(s) for s in rows],
            "inputs": {
                step: {name: a.to_json() for name, a in arts.items()}
                for step, arts in (inputs or {}).items()
            },
        }
        self.server.call("POST", "/step-runs", json=body)

    def end_run(self, run_id: str, status: PipelineStatus | str) -> None:
        self.server.call(
            "POST", f"/pipeline-runs/{segment(run_id)}/end", json={"status": str(status)}
        )

    def find_cached(self, cache_keys: Iterable[str]) -> dict[str, StepRun]:
        keys = sorted({k for k in cache_keys if k})
        found: dict[str, StepRun] = {}
        for start in range(0, len(keys), 100):  # keeps each URL short
            params = [("cache_key", k) for k in keys[start : start + 100]]
            items = self.server.call("GET", "/step-runs", params=params)["items"]
            found.update((s.cache_key, s) for s in map(step_from_json, items))
        return found

    def get_run(self, run_id: str) -> PipelineRun:
        return run_from_json(self.server.call("GET", f"/pipeline-runs/{segment(run_id)}"))

    def list_runs(
        self,
        pipeline: str | None = None,
        trigger_prefix: str | None = None,
        limit: int = 50,
        *,
        offset: int = 0,
    ) -> list[PipelineRun]:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput(f"limit {limit!r} is not a positive integer", field="limit")
        filters = {"pipeline": pipeline, "trigger_prefix": trigger_prefix}
        found: list[PipelineRun] = []
        next_offset: int | None = offset
        while next_offset is not None and len(found) < limit:
            want = min(PAGE, limit - len(found))
            page = self.server.call(
                "GET", "/pipeline-runs", params={**filters, "limit": want, "offset": next_offset}
            )
            found.extend(run_from_json(r) for r in page["items"])
            next_offset = page["next_offset"]
        return found

    def get_step(self, step_run_id: str) -> StepRun:
        return step_from_json(self.server.call("GET", f"/step-runs/{segment(step_run_id)}"))

    def step_links(self, step_run_id: str) -> list[ArtifactLink]:
        items = self.server.call("GET", f"/step-runs/{segment(step_run_id)}/links")["items"]
        return [ArtifactLink(**i) for i in items]

    def artifact_use(self, digest: str) -> ArtifactUse:
        d = self.server.call("GET", f"/artifact-use/{segment(digest)}")
        return ArtifactUse(
            d["digest"],
            tuple(step_from_json(s) for s in d["producers"]),
            tuple(step_from_json(s) for s in d["readers"]),
        )


class HttpScheduleStore:
    """Schedules, and the scheduler lease, kept by the server ``server`` talks to."""

    def __init__(self, server: ServerConnection) -> None:
        self.server = server

    def create(
        self,
        name: str,
        pipeline: str,
        cron: str,
        params: Mapping[str, Any] | None = None,
        catchup: str = "skip",
        now: float | None = None,
    ) -> Schedule:
        body = {
            "name": name,
            "pipeline": pipeline,
            "cron": cron,
            "params": dict(params or {}),
            "catchup": catchup,
            "now": now,
        }
        return schedule_from_json(self.server.call("POST", "/schedules", json=body))

    def get(self, name: str) -> Schedule:
        return schedule_from_json(self.server.call("GET", f"/schedules/{segment(name)}"))

    def list(self) -> builtins.list[Schedule]:
        return [schedule_from_json(s) for s in self._pages("/schedules", {})]

    def set_paused(self, name: str, paused: bool, now: float | None = None) -> Schedule:
        if not isinstance(paused, bool):
            raise InvalidInput(f"paused {paused!r} is not true or false", field="paused")
        verb = "pause" if paused else "resume"
        return schedule_from_json(
            self.server.call("POST", f"/schedules/{segment(name)}/{verb}", json={"now": now})
        )

    def delete(self, name: str) -> None:
        self.server.call("DELETE", f"/schedules/{segment(name)}")

    def fires(self, name: str | None = None) -> builtins.list[Fire]:
        return [
            Fire(f["schedule"], f["tick"], f["missed"], f["pipeline_run_id"])
            for f in self._pages("/schedule-fires", {"schedule": name})
        ]

    def acquire_lease(self, holder: str, lease_s: float, now: float | None = None) -> bool:
        body = {"holder": holder, "lease_s": lease_s, "now": now}
        return bool(self.server.call("POST", "/scheduler/lease", json=body)["held"])

    def release_lease(self, holder: str) -> None:
        self.server.call("DELETE", f"/scheduler/lease/{segment(holder)}")

    def claim_tick(
        self,
        name: str,
        expected_next_tick: float,
        tick: float,
        upcoming: float,
        missed: int,
        holder: str,
    ) -> bool:
        body = {
            "expected_next_tick": expected_next_tick,
            "tick": tick,
            "upcoming": upcoming,
            "missed": missed,
            "holder": holder,
        }
        answer = self.server.call("POST", f"/schedules/{segment(name)}/claims", json=body)
        return bool(answer["claimed"])

    def link_fire(self, name: str, tick: float, pipeline_run_id: str) -> None:
        self.server.call(
            "POST",
            f"/schedules/{segment(name)}/fires",
            json={"tick": tick, "pipeline_run_id": pipeline_run_id},
        )

    def _pages(self, route: str, params: dict[str, Any]) -> builtins.list[dict[str, Any]]:
        found: builtins.list[dict[str, Any]] = []
        next_offset: int | None = 0
        while next_offset is not None:
            page = self.server.call(
                "GET", route, params={**params, "limit": PAGE, "offset": next_offset}
            )
            found.extend(page["items"])
            next_offset = page["next_offset"]
        return found
