"""Alert state kept by a usina server, through its REST API: the same protocol as
``SqlAlertStore`` (which the server runs), the same checks on input before anything is sent."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

from usina.connection import ServerConnection
from usina.monitoring.alerts import (
    Alert,
    AlertState,
    Delivery,
    DeliveryResult,
    DeliveryStatus,
    Notice,
    NoticeKind,
    Observation,
    Outcome,
    check_alert_id,
    check_list_filters,
    check_observation,
    check_result,
)

PAGE = 1000


def alert_from_json(d: dict[str, Any]) -> Alert:
    deliveries = tuple(
        Delivery(
            notification=x["notification"],
            kind=NoticeKind(x["kind"]),
            channel=x["channel"],
            status=DeliveryStatus(x["status"]),
            attempts=x["attempts"],
            error=x["error"],
            created_at=x["created_at"],
            finished_at=x["finished_at"],
        )
        for x in d["deliveries"]
    )
    return Alert(
        id=d["id"],
        monitor=d["monitor"],
        check=d["check"],
        state=AlertState(d["state"]),
        value=d["value"],
        threshold=d["threshold"],
        message=d["message"],
        channels=tuple(d["channels"]),
        first_seen=d["first_seen"],
        last_seen=d["last_seen"],
        resolved_at=d["resolved_at"],
        notifications=d["notifications"],
        last_sent=d["last_sent"],
        deliveries=deliveries,
    )


class HttpAlertStore:
    """Alerts on the server ``server`` talks to (``usina.monitoring.base.AlertStore``)."""

    def __init__(self, server: ServerConnection) -> None:
        self.server = server

    def observe(self, observation: Observation) -> Outcome:
        obs = check_observation(observation)
        body = {
            "monitor": obs.monitor,
            "check": obs.check,
            "breached": obs.breached,
            "value": obs.value,
            "threshold": obs.threshold,
            "message": obs.message,
            "channels": list(obs.channels),
            "cooldown": obs.cooldown,
            "time": obs.time,
        }
        found = self.server.call("POST", "/alerts/observations", json=body)
        alert = None if found["alert"] is None else alert_from_json(found["alert"])
        notice = None
        if found["notice"] is not None:
            assert alert is not None
            n = found["notice"]
            notice = Notice(alert, n["number"], NoticeKind(n["kind"]), tuple(n["channels"]))
        return Outcome(alert, notice)

    def record_deliveries(
        self, alert_id: int, notification: int, results: Iterable[DeliveryResult]
    ) -> Alert:
        checked = [check_result(r) for r in results]
        alert_id = check_alert_id(alert_id)
        body = {
            "notification": notification,
            "results": [
                {
                    "channel": r.channel,
                    "ok": r.ok,
                    "attempts": r.attempts,
                    "error": r.error,
                    "time": r.time,
                }
                for r in checked
            ],
        }
        return alert_from_json(
            self.server.call("POST", f"/alerts/{alert_id}/deliveries", json=body)
        )

    def get(self, alert_id: int) -> Alert:
        alert_id = check_alert_id(alert_id)
        return alert_from_json(self.server.call("GET", f"/alerts/{alert_id}"))

    def list(
        self,
        *,
        state: str | None = None,
        monitor: str | None = None,
        check: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[Alert]:
        found_state = check_list_filters(state, monitor, check, limit, offset)
        params: dict[str, Any] = {
            "state": None if found_state is None else found_state.value,
            "monitor": monitor,
            "check": check,
        }
        alerts: builtins.list[Alert] = []
        while len(alerts) < limit:
            want = min(PAGE, limit - len(alerts))
            page = self.server.call(
                "GET", "/alerts", params={**params, "limit": want, "offset": offset}
            )
            alerts.extend(alert_from_json(a) for a in page["items"])
            if page["next_offset"] is None:
                break
            offset = page["next_offset"]
        return alerts
