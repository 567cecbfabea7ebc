"""Monitors through a usina server: ``/api/v1/monitors``. Runs execute on the server, which
holds the request log and the labels."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from usina.connection import ServerConnection
from usina.monitoring.monitors import Monitor, MonitorRun, check_name, check_spec
from usina.store.paging import check_page


def monitor_from_json(d: dict[str, Any]) -> Monitor:
    spec = {k: v for k, v in d.items() if k not in ("created_at", "created_by")}
    return Monitor(check_spec(spec), d["created_at"], d["created_by"])


def run_from_json(d: dict[str, Any]) -> MonitorRun:
    return MonitorRun(**d)


class HttpMonitorStore:
    """The monitors kept by the server ``server`` talks to."""

    def __init__(self, server: ServerConnection) -> None:
        self.server = server

    def create(self, spec: Mapping[str, Any], now: float | None = None) -> Monitor:
        checked = check_spec(spec)  # refuse bad input before sending it
        params = {"now": now} if now is not None else None
        found = self.server.call("POST", "/monitors", json=checked.to_dict(), params=params)
        return monitor_from_json(found)

    def get(self, name: str) -> Monitor:
        check_name(name)
        return monitor_from_json(self.server.call("GET", f"/monitors/{name}"))

    def list(self) -> builtins.list[Monitor]:
        found: builtins.list[Monitor] = []
        offset = 0
        while True:
            page = self.server.call("GET", "/monitors", params={"limit": 1000, "offset": offset})
            found.extend(monitor_from_json(m) for m in page["items"])
            if page["next_offset"] is None:
                return found
            offset = page["next_offset"]

    def delete(self, name: str) -> None:
        check_name(name)
        self.server.call("DELETE", f"/monitors/{name}")

    def run(self, name: str, end: float | None = None) -> MonitorRun:
        check_name(name)
        return run_from_json(self.server.call("POST", f"/monitors/{name}/runs", json={"end": end}))

    def history(self, name: str, *, limit: int = 100, offset: int = 0) -> builtins.list[MonitorRun]:
        check_name(name)
        check_page(limit, offset)
        page = self.server.call(
            "GET", f"/monitors/{name}/runs", params={"limit": limit, "offset": offset}
        )
        return [run_from_json(r) for r in page["items"]]
