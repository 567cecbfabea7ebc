"""Tracking on a usina server, through its REST API: the same protocol as the SQL store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from usina.connection import ServerConnection, segment
from usina.errors import InvalidInput
from usina.tracking.checks import metric
from usina.tracking.entities import Experiment, Metric, Run, RunArtifact, RunInput, RunStatus

PAGE = 1000


def run_from_json(data: dict[str, Any]) -> Run:
    """A ``Run`` from the server's JSON."""
    return Run(
        id=data["id"],
        experiment=data["experiment"],
        name=data["name"],
        status=RunStatus(data["status"]),
        start_time=data["start_time"],
        end_time=data["end_time"],
        created_by=data["created_by"],
        params=dict(data["params"]),
        metrics=dict(data["metrics"]),
        tags=dict(data["tags"]),
        artifacts=tuple(RunArtifact(a["path"], a["digest"], a["size"]) for a in data["artifacts"]),
        inputs=tuple(RunInput(i["name"], i["digest"], i["rows"]) for i in data["inputs"]),
    )


def _text(items: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (items or {}).items()}


class HttpTrackingStore:
    """Experiments and runs kept by the server ``server`` talks to."""

    def __init__(self, server: ServerConnection, heartbeat_timeout: float = 60.0) -> None:
        self.server = server
        self.heartbeat_timeout = heartbeat_timeout

    # -- writes ---------------------------------------------------------------------------

    def create_run(
        self,
        experiment: str,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Run:
        body = {
            "experiment": experiment,
            "name": name,
            "params": _text(params),
            "tags": _text(tags),
        }
        return run_from_json(self.server.call("POST", "/runs", json=body))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        body = {
            "metrics": [
                {
                    "key": m.key,
                    "value": m.value,
                    "step": m.step,
                    "timestamp": m.timestamp,
                }
                for m in (metric(m.key, m.value, m.step, m.timestamp) for m in metrics)
            ],
            "params": _text(params),
            "tags": _text(tags),
        }
        self.server.call("POST", f"/runs/{segment(run_id)}/batch", json=body)

    def log_artifact(self, run_id: str, path: str, digest: str, size: int) -> None:
        self.server.call(
            "POST",
            f"/runs/{segment(run_id)}/artifacts",
            json={"path": path, "digest": digest, "size": size},
        )

    def log_input(self, run_id: str, name: str, digest: str, rows: int | None = None) -> None:
        self.server.call(
            "POST",
            f"/runs/{segment(run_id)}/inputs",
            json={"name": name, "digest": digest, "rows": rows},
        )

    def heartbeat(self, run_id: str) -> None:
        self.server.call("POST", f"/runs/{segment(run_id)}/heartbeat")

    def end_run(self, run_id: str, status: RunStatus) -> None:
        self.server.call(
            "POST", f"/runs/{segment(run_id)}/end", json={"status": RunStatus(status).value}
        )

    # -- reads ----------------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run:
        return run_from_json(self.server.call("GET", f"/runs/{segment(run_id)}"))

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
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput(f"limit {limit!r} is not a positive integer", field="limit")
        filters: list[tuple[str, Any]] = [
            (k, v)
            for k, v in (
                ("experiment", experiment),
                ("status", status),
                ("name", name),
                ("since", since),
                ("until", until),
            )
            if v is not None
        ]
        filters.extend(("tag", f"{k}={v}") for k, v in (tags or {}).items())
        found: list[Run] = []
        next_offset: int | None = offset
        while next_offset is not None and len(found) < limit:
            want = min(PAGE, limit - len(found))
            paging = [("limit", want), ("offset", next_offset)]
            page = self.server.call("GET", "/runs", params=filters + paging)
            found.extend(run_from_json(r) for r in page["items"])
            next_offset = page["next_offset"]
        return found

    def list_experiments(
        self, name: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[Experiment]:
        found: list[Experiment] = []
        next_offset: int | None = offset
        while next_offset is not None:
            want = PAGE if limit is None else min(PAGE, limit - len(found))
            page = self.server.call(
                "GET", "/experiments", params={"name": name, "limit": want, "offset": next_offset}
            )
            found.extend(
                Experiment(e["id"], e["name"], e["created_at"], e["created_by"], e["run_count"])
                for e in page["items"]
            )
            next_offset = page["next_offset"]
            if limit is not None and len(found) >= limit:
                break
        return found

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        items = self.server.call("GET", f"/runs/{segment(run_id)}/metrics/{segment(key)}")["items"]
        return [Metric(m["key"], m["value"], m["step"], m["timestamp"]) for m in items]
