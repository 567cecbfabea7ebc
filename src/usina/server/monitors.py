"""Routes of monitors: ``/api/v1/monitors`` (create, list, get, delete) and
``/api/v1/monitors/{name}/runs`` (run now; the record of past runs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from usina.monitoring.monitors import Monitor, MonitorRun
from usina.monitoring.monitors_sql import SqlMonitorStore
from usina.server import schemas as s
from usina.server.deps import MAX_PAGE, actor, backends, next_offset

router = APIRouter(prefix="/api/v1", tags=["monitoring"])


class MonitorIn(BaseModel):
    name: str = Field(max_length=100)
    endpoint: str = Field(max_length=128)
    window: str | float = Field("1h", description="5m or more: 5m, 1h, 1d, or seconds.")
    schedule: str | None = Field(None, description="Cron or @hourly; null: on demand only.")
    drift_threshold: float | None = Field(None, description="Every feature's drift threshold.")
    profile: str = Field("vertex", description="vertex or evidently.")
    metrics: list[str] = Field([], description="Thresholds: auc>=0.70, latency_p99<=50ms.")
    alerts: list[str] = Field([], description="email:ADDRESS, webhook:URL or log:NAME.")
    task: str | None = Field(None, description="classification or regression (default: inferred).")
    delay: str | float = Field(
        "0s", description="How long before the run the window ends (1d: labels have arrived)."
    )


class MonitorOut(MonitorIn):
    created_at: float
    created_by: str


class RunIn(BaseModel):
    end: float | None = Field(None, description="The window's end (default: now).")


class MonitorRunOut(BaseModel):
    id: str
    monitor: str
    window_start: float
    window_end: float
    status: str = Field(description="ok, breached, no_data or failed.")
    figures: dict[str, Any]
    breaches: list[dict[str, Any]]
    error: str | None
    started_at: float
    seconds: float


def monitor_out(m: Monitor) -> MonitorOut:
    return MonitorOut(**m.to_dict())


def run_out(r: MonitorRun) -> MonitorRunOut:
    return MonitorRunOut(**r.__dict__)


def store(request: Request, who: str) -> SqlMonitorStore:
    b = backends(request)
    return SqlMonitorStore(b.db, b.artifacts, actor=who, alerter=request.app.state.alerter)


@router.post("/monitors", status_code=201, response_model=MonitorOut)
def create_monitor(
    request: Request,
    body: MonitorIn,
    now: float | None = Query(None, description="Creation time (default: now)."),
    who: str = Depends(actor),
) -> MonitorOut:
    """Add a monitor of an endpoint (409 if the name is taken; 400 naming an unknown endpoint
    or metric)."""
    return monitor_out(store(request, who).create(body.model_dump(), now))


@router.get("/monitors", response_model=s.Page[MonitorOut])
def list_monitors(
    request: Request,
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[MonitorOut]:
    """Monitors by name."""
    found = store(request, "anonymous").list()[offset : offset + limit]
    items = [monitor_out(m) for m in found]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.get("/monitors/{name}", response_model=MonitorOut)
def get_monitor(request: Request, name: str) -> MonitorOut:
    """One monitor."""
    return monitor_out(store(request, "anonymous").get(name))


@router.delete("/monitors/{name}", status_code=204)
def delete_monitor(request: Request, name: str, who: str = Depends(actor)) -> Response:
    """Delete a monitor, its schedule and its runs."""
    store(request, who).delete(name)
    return Response(status_code=204)


@router.post("/monitors/{name}/runs", response_model=MonitorRunOut)
def run_monitor(
    request: Request, name: str, body: RunIn | None = None, who: str = Depends(actor)
) -> MonitorRunOut:
    """Run the monitor now over the window ending at ``end``; answers the stored record."""
    return run_out(store(request, who).run(name, body.end if body else None))


@router.get("/monitors/{name}/runs", response_model=s.Page[MonitorRunOut])
def monitor_history(
    request: Request,
    name: str,
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[MonitorRunOut]:
    """The monitor's runs, newest window first."""
    found = store(request, "anonymous").history(name, limit=limit, offset=offset)
    items = [run_out(r) for r in found]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))
