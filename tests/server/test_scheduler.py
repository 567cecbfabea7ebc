"""``usina server`` runs the scheduler beside the API, and stops it with itself."""

from __future__ import annotations

import os
import signal
import subprocess

import sqlalchemy as sa

from resources.waiting import wait_until
from usina.store import Database


def _lease_holder(db: Database) -> str | None:
    with db.read() as conn:
        return conn.execute(sa.text("select holder from leases")).scalar()


def _scheduler_children(server_pid: int) -> list[int]:
    """The ``usina scheduler`` processes the server started (its direct children)."""
    found = subprocess.run(
        ["pgrep", "-P", str(server_pid), "-f", "usina scheduler"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return [int(pid) for pid in found.stdout.split()]


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_server_runs_a_scheduler_that_takes_the_lease(start_server, sqlite_url) -> None:
    server = start_server("--workers", "2", env={"USINA_DB_URL": sqlite_url})
    db = Database(sqlite_url)
    wait_until(
        lambda: _lease_holder(db), 60, lambda: f"the scheduler's lease; log: {server.output()}"
    )
    server.process.terminate()
    server.process.wait(30)
    # The scheduler gave the lease back when it stopped.
    wait_until(lambda: _lease_holder(db) is None, 30, "the lease to be given back")
    db.dispose()


def test_no_scheduler_when_asked(start_server, sqlite_url) -> None:
    server = start_server("--no-scheduler", env={"USINA_DB_URL": sqlite_url})
    # The scheduler is started before the API listens, so a ready server shows whether it has
    # one; the test above sees it.
    assert _scheduler_children(server.process.pid) == []
    db = Database(sqlite_url)
    with db.read() as conn:
        assert conn.execute(sa.text("select count(*) from leases")).scalar() == 0
    db.dispose()


def test_the_scheduler_stops_when_its_server_is_killed(start_server, sqlite_url) -> None:
    # A server killed outright cannot stop its companion; the companion notices instead.
    server = start_server(env={"USINA_DB_URL": sqlite_url})
    [companion] = wait_until(
        lambda: _scheduler_children(server.process.pid),
        30,
        lambda: f"the server's scheduler process; log: {server.output()}",
    )
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(10)
    # Whatever happens, the server's process group (the companion included) is ended by pid
    # when the test ends.
    wait_until(lambda: not _is_running(companion), 30, "the scheduler to stop after its server")
