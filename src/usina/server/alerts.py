"""Routes of alerts: ``GET /api/v1/alerts`` (filtered, paged), ``GET /api/v1/alerts/{id}``, and
the two writes an ``Alerter`` working through the server makes: ``POST
/api/v1/alerts/observations`` (apply one observation; the answer says whether a notification
is due) and ``POST /api/v1/alerts/{id}/deliveries`` (how each channel took it). The server
stores alert state; the process that observes sends the notifications."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from usina.monitoring.alerts import (
    DEFAULT_COOLDOWN,
    Alert,
    Delivery,
    DeliveryResult,
    Notice,
    Observation,
)
from usina.monitoring.sql import SqlAlertStore
from usina.server import schemas as s
from usina.server.deps import MAX_PAGE, backends, next_offset

router = APIRouter(prefix="/api/v1", tags=["alerts"])

_ID = Path(ge=1, le=2**62, description="The alert's id.")


class DeliveryOut(BaseModel):
    notification: int = Field(description="Which notification of the alert, from 1.")
    kind: str = Field(description="firing, repeat or resolved.")
    channel: str = Field(description="The channel URL (email:..., webhook:..., log:).")
    status: str = Field(description="pending, sent or failed.")
    attempts: int
    error: str = Field(description="Why the last attempt failed; empty when sent.")
    created_at: float
    finished_at: float | None


class AlertOut(BaseModel):
    id: int
    monitor: str
    check: str
    state: str = Field(description="firing or resolved.")
    value: float | None
    threshold: float | None
    message: str
    channels: list[str]
    first_seen: float
    last_seen: float
    resolved_at: float | None
    notifications: int = Field(description="Notifications sent: first, reminders, resolution.")
    last_sent: float | None
    deliveries: list[DeliveryOut]


class NoticeOut(BaseModel):
    number: int
    kind: str = Field(description="firing, repeat or resolved.")
    channels: list[str]


class OutcomeOut(BaseModel):
    alert: AlertOut | None = Field(description="The alert opened, updated or resolved.")
    notice: NoticeOut | None = Field(description="The notification to send; null when none.")


class ObservationIn(BaseModel):
    monitor: str = Field(max_length=256)
    check: str = Field(max_length=256)
    breached: bool
    value: float | None = None
    threshold: float | None = None
    message: str = Field("", max_length=4000)
    channels: list[str] = Field(default_factory=lambda: ["log:"], max_length=20)
    cooldown: float = Field(DEFAULT_COOLDOWN, ge=0, description="Seconds between reminders.")
    time: float | None = Field(None, ge=0, description="When the check ran; now if absent.")


class DeliveryIn(BaseModel):
    channel: str = Field(max_length=1024)
    ok: bool
    attempts: int = Field(ge=0, le=100)
    error: str = Field("", max_length=2000)
    time: float | None = Field(None, ge=0)


class DeliveriesIn(BaseModel):
    notification: int = Field(ge=1, le=2**31)
    results: list[DeliveryIn] = Field(max_length=20)


def delivery_out(d: Delivery) -> DeliveryOut:
    return DeliveryOut(**{**d.__dict__, "kind": str(d.kind), "status": str(d.status)})


def alert_out(a: Alert) -> AlertOut:
    return AlertOut(
        **{
            **a.__dict__,
            "state": str(a.state),
            "channels": list(a.channels),
            "deliveries": [delivery_out(d) for d in a.deliveries],
        }
    )


def notice_out(n: Notice) -> NoticeOut:
    return NoticeOut(number=n.number, kind=str(n.kind), channels=list(n.channels))


def _store(request: Request) -> SqlAlertStore:
    return SqlAlertStore(backends(request).db)


@router.get("/alerts", response_model=s.Page[AlertOut])
def list_alerts(
    request: Request,
    state: str | None = Query(None, max_length=16, description="firing or resolved."),
    monitor: str | None = Query(None, max_length=256, description="Only this monitor's."),
    check: str | None = Query(None, max_length=256, description="Only this check's."),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[AlertOut]:
    """Alerts, newest first, each with its deliveries."""
    found = _store(request).list(
        state=state, monitor=monitor, check=check, limit=limit, offset=offset
    )
    items = [alert_out(a) for a in found]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.get("/alerts/{alert_id}", response_model=AlertOut)
def get_alert(request: Request, alert_id: int = _ID) -> AlertOut:
    """One alert with its deliveries."""
    return alert_out(_store(request).get(alert_id))


@router.post("/alerts/observations", response_model=OutcomeOut)
def observe(request: Request, body: ObservationIn) -> OutcomeOut:
    """Apply one observation of a monitor's check. A breach opens an alert or updates the
    firing one; a cleared check resolves it. ``notice`` is the notification now due, already
    claimed for the caller (no other observer sends it): send it, then record the outcome at
    ``/alerts/{id}/deliveries``. Channel URLs are checked for their form only: the sender
    checks webhook addresses against its own allow-list."""
    outcome = _store(request).observe(
        Observation(
            body.monitor,
            body.check,
            body.breached,
            body.value,
            body.threshold,
            body.message,
            tuple(body.channels),
            body.cooldown,
            body.time,
        )
    )
    return OutcomeOut(
        alert=None if outcome.alert is None else alert_out(outcome.alert),
        notice=None if outcome.notice is None else notice_out(outcome.notice),
    )


@router.post("/alerts/{alert_id}/deliveries", response_model=AlertOut)
def record_deliveries(request: Request, body: DeliveriesIn, alert_id: int = _ID) -> AlertOut:
    """Record how each channel took notification ``notification`` of the alert."""
    results = [DeliveryResult(r.channel, r.ok, r.attempts, r.error, r.time) for r in body.results]
    return alert_out(_store(request).record_deliveries(alert_id, body.notification, results))
