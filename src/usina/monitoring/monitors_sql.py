"""Monitors and their runs in the metadata database (tables ``monitors``, ``monitor_runs``; a
scheduled monitor's row in ``schedules``)."""

from __future__ import annotations

import builtins
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.artifacts import ArtifactStore
from usina.errors import Conflict, InvalidInput, NotFound
from usina.monitoring.labels_sql import SqlLabelStore
from usina.monitoring.monitors import (
    SCHEDULE_PREFIX,
    TARGET,
    Monitor,
    MonitorRun,
    check_name,
    check_spec,
    notify,
    run_monitor,
)
from usina.store import Database, insert_if_absent
from usina.store import schema as t
from usina.store.paging import check_page

if TYPE_CHECKING:
    from usina.monitoring.alerter import Alerter


def _monitor(row: Any) -> Monitor:
    return Monitor(check_spec(orjson.loads(row.spec)), row.created_at, row.created_by)


def _run(row: Any) -> MonitorRun:
    return MonitorRun(
        row.id,
        row.monitor,
        row.window_start,
        row.window_end,
        row.status,
        orjson.loads(row.figures),
        orjson.loads(row.breaches),
        row.error,
        row.started_at,
        row.seconds,
    )


class SqlMonitorStore:
    """Monitors on the database; runs read the request log in ``artifacts``."""

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactStore,
        actor: str = "local",
        alerter: Alerter | None = None,
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.actor = actor
        # Where runs' checks raise alerts (set by the edge that knows the channels' settings:
        # the server, the CLI, the scheduler); without one, breaches are only logged.
        self.alerter = alerter

    def create(self, spec: Mapping[str, Any], now: float | None = None) -> Monitor:
        checked = check_spec(spec)
        now = time.time() if now is None else float(now)
        values = {
            "name": checked.name,
            "endpoint": checked.endpoint,
            "spec": orjson.dumps(checked.to_dict()).decode(),
            "created_at": now,
            "created_by": self.actor,
        }

        def tx(conn: Connection) -> None:
            known = conn.execute(
                sa.select(t.endpoints.c.name).where(t.endpoints.c.name == checked.endpoint)
            ).first()
            if known is None:
                raise InvalidInput(
                    f"no endpoint {checked.endpoint!r} to monitor; list them with 'usina "
                    "endpoints list'",
                    field="endpoint",
                )
            if not insert_if_absent(conn, t.monitors, values, ["name"]):
                raise Conflict(
                    f"monitor {checked.name!r} already exists; delete it first or pick another "
                    "name",
                    field="name",
                )
            if checked.schedule is None:
                return
            from usina.pipelines.schedules import next_tick

            schedule = {
                "name": SCHEDULE_PREFIX + checked.name,
                "pipeline": TARGET + checked.name,
                "cron": checked.schedule,
                "params": "{}",
                "catchup": "skip",
                "paused": False,
                "next_tick": next_tick(checked.schedule, now),
                "last_tick": None,
                "created_at": now,
                "created_by": self.actor,
            }
            if not insert_if_absent(conn, t.schedules, schedule, ["name"]):
                raise Conflict(
                    f"schedule {schedule['name']!r} already exists; delete it first",
                    field="name",
                )

        self.db.write(tx)
        return self.get(checked.name)

    def get(self, name: str) -> Monitor:
        check_name(name)
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.monitors).where(t.monitors.c.name == name)).first()
        if row is None:
            raise NotFound(
                f"no monitor {name!r}; list them with 'usina monitors list'", field="name"
            )
        return _monitor(row)

    def list(self) -> builtins.list[Monitor]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(t.monitors).order_by(t.monitors.c.name)).all()
        return [_monitor(r) for r in rows]

    def delete(self, name: str) -> None:
        self.get(name)

        def tx(conn: Connection) -> None:
            conn.execute(t.monitors.delete().where(t.monitors.c.name == name))
            conn.execute(t.monitor_runs.delete().where(t.monitor_runs.c.monitor == name))
            conn.execute(
                t.schedules.delete().where(
                    t.schedules.c.name == SCHEDULE_PREFIX + name,
                    t.schedules.c.pipeline == TARGET + name,
                )
            )

        self.db.write(tx)

    def run(self, name: str, end: float | None = None) -> MonitorRun:
        monitor = self.get(name)
        if end is not None and (
            isinstance(end, bool) or not isinstance(end, int | float) or end != end
        ):
            raise InvalidInput(f"end {end!r} is not a time in seconds since 1970", field="end")
        labels = SqlLabelStore(self.db, self.artifacts, self.actor)
        done = run_monitor(monitor, self.artifacts, labels.table, end)
        row = {
            "id": done.id,
            "monitor": done.monitor,
            "window_start": done.window_start,
            "window_end": done.window_end,
            "status": done.status,
            "figures": orjson.dumps(done.figures).decode(),
            "breaches": orjson.dumps(done.breaches).decode(),
            "error": done.error,
            "started_at": done.started_at,
            "seconds": done.seconds,
        }
        self.db.write(lambda conn: conn.execute(t.monitor_runs.insert(), [row]))
        notify(monitor, done, self.alerter)
        return done

    def history(self, name: str, *, limit: int = 100, offset: int = 0) -> builtins.list[MonitorRun]:
        check_name(name)
        check_page(limit, offset)
        c = t.monitor_runs.c
        query = (
            sa.select(t.monitor_runs)
            .where(c.monitor == name)
            .order_by(c.window_end.desc(), c.started_at.desc())
            .limit(limit)
            .offset(offset)
        )
        with self.db.read() as conn:
            return [_run(r) for r in conn.execute(query)]
