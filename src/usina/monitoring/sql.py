"""Alert state in the metadata database.

Observers of one check are serialised on its firing alert: PostgreSQL locks the row with
``SELECT ... FOR UPDATE``, SQLite lets one writer in at a time (``BEGIN IMMEDIATE``). Two
observers opening an alert at once both insert with the check's ``firing_key``, which is unique
while the alert fires: one insert wins, the other finds that alert and treats its breach as a
repeat. So a breach opens one alert and one notification, whatever the number of processes.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.errors import InvalidInput, NotFound
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
from usina.store import Database, insert_if_absent
from usina.store import schema as t


def _key(monitor: str, check: str) -> str:
    return f"{monitor} {check}"  # names hold no spaces, so the pair is unambiguous


def _channels(text: str) -> tuple[str, ...]:
    try:
        found = json.loads(text)
    except ValueError:
        return ()
    return tuple(str(c) for c in found) if isinstance(found, list) else ()


def _delivery(row: Any) -> Delivery:
    return Delivery(
        notification=row.notification,
        kind=NoticeKind(row.kind),
        channel=row.channel,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        error=row.error,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


def _alert(row: Any, deliveries: Sequence[Delivery] = ()) -> Alert:
    return Alert(
        id=int(row.id),
        monitor=row.monitor,
        check=row.check_name,
        state=AlertState(row.state),
        value=row.value,
        threshold=row.threshold,
        message=row.message,
        channels=_channels(row.channels),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        resolved_at=row.resolved_at,
        notifications=row.notifications,
        last_sent=row.last_sent,
        deliveries=tuple(deliveries),
    )


class SqlAlertStore:
    """Alert state on the metadata database (``usina.monitoring.base.AlertStore``).

    Example:
        >>> from usina.monitoring.alerts import Observation
        >>> store = SqlAlertStore(Database("sqlite://"))
        >>> def psi(breached, value, at):
        ...     return store.observe(Observation("drift", "psi", breached, value, 0.2, time=at))
        >>> psi(True, 0.3, 0).notice.kind
        <NoticeKind.FIRING: 'firing'>
        >>> psi(True, 0.4, 30).notice  # inside the cooldown: nothing to send
        >>> psi(False, 0.1, 40).notice.kind
        <NoticeKind.RESOLVED: 'resolved'>
        >>> [(a.state.value, a.notifications) for a in store.list()]
        [('resolved', 2)]
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def observe(self, observation: Observation) -> Outcome:
        obs = check_observation(observation)
        now = time.time() if obs.time is None else float(obs.time)
        key = _key(obs.monitor, obs.check)
        channels = tuple(dict.fromkeys(obs.channels))

        def tx(conn: Connection) -> Outcome:
            row = self._firing(conn, key)
            if row is None and not obs.breached:
                return Outcome(None, None)
            if row is None:
                opened = insert_if_absent(
                    conn,
                    t.alerts,
                    {
                        "monitor": obs.monitor,
                        "check_name": obs.check,
                        "state": AlertState.FIRING.value,
                        "firing_key": key,
                        "value": obs.value,
                        "threshold": obs.threshold,
                        "message": obs.message,
                        "channels": json.dumps(channels),
                        "first_seen": now,
                        "last_seen": now,
                        "notifications": 1,
                        "last_sent": now,
                    },
                    ["firing_key"],
                )
                row = self._firing(conn, key)
                assert row is not None
                if opened:
                    return self._claim(conn, row.id, 1, NoticeKind.FIRING, channels, now)
            return self._update(conn, row, obs, channels, now)

        return self.db.write(tx)

    def _firing(self, conn: Connection, key: str) -> Any:
        query = sa.select(t.alerts).where(t.alerts.c.firing_key == key).with_for_update()
        return conn.execute(query).first()

    def _update(
        self, conn: Connection, row: Any, obs: Observation, channels: tuple[str, ...], now: float
    ) -> Outcome:
        c = t.alerts.c
        values: dict[str, Any] = {
            "value": obs.value,
            "threshold": obs.threshold,
            "channels": json.dumps(channels),
            "last_seen": max(row.last_seen, now),
        }
        if obs.message or obs.breached:
            values["message"] = obs.message
        kind: NoticeKind | None = None
        if not obs.breached:
            kind = NoticeKind.RESOLVED
            values.update(state=AlertState.RESOLVED.value, firing_key=None, resolved_at=now)
        elif row.last_sent is None or now - row.last_sent >= obs.cooldown:
            kind = NoticeKind.REPEAT
        if kind is not None:
            values.update(notifications=row.notifications + 1, last_sent=now)
        conn.execute(t.alerts.update().where(c.id == row.id).values(**values))
        if kind is None:
            return Outcome(self._load(conn, row.id), None)
        return self._claim(conn, row.id, row.notifications + 1, kind, channels, now)

    def _claim(
        self,
        conn: Connection,
        alert_id: int,
        number: int,
        kind: NoticeKind,
        channels: tuple[str, ...],
        now: float,
    ) -> Outcome:
        """Record notification ``number`` as pending on every channel: claimed, so no other
        observer sends it."""
        if channels:
            rows = [
                {
                    "alert_id": alert_id,
                    "notification": number,
                    "channel": channel,
                    "kind": kind.value,
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "error": "",
                    "created_at": now,
                    "finished_at": None,
                }
                for channel in channels
            ]
            conn.execute(t.alert_deliveries.insert(), rows)
        alert = self._load(conn, alert_id)
        return Outcome(alert, Notice(alert, number, kind, channels))

    def record_deliveries(
        self, alert_id: int, notification: int, results: Iterable[DeliveryResult]
    ) -> Alert:
        checked = [check_result(r) for r in results]
        alert_id = check_alert_id(alert_id)
        d = t.alert_deliveries.c

        def tx(conn: Connection) -> Alert:
            self._load(conn, alert_id)  # NotFound first
            for r in checked:
                done = conn.execute(
                    t.alert_deliveries.update()
                    .where(
                        d.alert_id == alert_id,
                        d.notification == notification,
                        d.channel == r.channel,
                    )
                    .values(
                        status=(DeliveryStatus.SENT if r.ok else DeliveryStatus.FAILED).value,
                        attempts=r.attempts,
                        error=r.error,
                        finished_at=time.time() if r.time is None else r.time,
                    )
                )
                if done.rowcount == 0:
                    raise InvalidInput(
                        f"alert {alert_id} has no notification {notification} on channel "
                        f"{r.channel!r}; record only the deliveries observe() asked for",
                        field="channel",
                    )
            return self._load(conn, alert_id)

        return self.db.write(tx)

    def get(self, alert_id: int) -> Alert:
        alert_id = check_alert_id(alert_id)
        with self.db.read() as conn:
            return self._load(conn, alert_id)

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
        c = t.alerts.c
        query = sa.select(t.alerts).order_by(c.id.desc()).limit(limit).offset(offset)
        if found_state is not None:
            query = query.where(c.state == found_state.value)
        if monitor is not None:
            query = query.where(c.monitor == monitor)
        if check is not None:
            query = query.where(c.check_name == check)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            deliveries = self._deliveries(conn, [r.id for r in rows])
        return [_alert(r, deliveries.get(r.id, [])) for r in rows]

    def _load(self, conn: Connection, alert_id: int) -> Alert:
        row = conn.execute(sa.select(t.alerts).where(t.alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFound(f"no alert {alert_id}; 'usina alerts list' shows the alerts")
        return _alert(row, self._deliveries(conn, [alert_id]).get(alert_id, []))

    @staticmethod
    def _deliveries(conn: Connection, ids: Sequence[int]) -> dict[int, builtins.list[Delivery]]:
        found: dict[int, builtins.list[Delivery]] = {}
        if not ids:
            return found
        d = t.alert_deliveries.c
        query = (
            sa.select(t.alert_deliveries)
            .where(d.alert_id.in_(ids))
            .order_by(d.alert_id, d.notification, d.channel)
        )
        for row in conn.execute(query):
            found.setdefault(int(row.alert_id), []).append(_delivery(row))
        return found
