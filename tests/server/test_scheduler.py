"""``usina server`` runs the scheduler beside the API, and stops it with itself."""

from __future__ import annotations

import time

import sqlalchemy as sa

from usina.store import Database


def test_the_server_runs_a_scheduler_that_takes_the_lease(start_server, sqlite_url) -> None:
    server = start_server("--workers", "2", env={"USINA_DB_URL": sqlite_url})
    db = Database(sqlite_url)
    deadline = time.monotonic() + 60
    holder = None
    while holder is None and time.monotonic() < deadline:
        with db.read() as conn:
            holder = conn.execute(sa.text("select holder from leases")).scalar()
        time.sleep(0.2)
    assert holder is not None, server.output()
    server.process.terminate()
    server.process.wait(30)
    deadline = time.monotonic() + 30
    while holder is not None and time.monotonic() < deadline:
        with db.read() as conn:  # the scheduler gave the lease back when it stopped
            holder = conn.execute(sa.text("select holder from leases")).scalar()
        time.sleep(0.2)
    assert holder is None
    db.dispose()


def test_no_scheduler_when_asked(start_server, sqlite_url) -> None:
    start_server("--no-scheduler", env={"USINA_DB_URL": sqlite_url})
    time.sleep(2)
    db = Database(sqlite_url)
    with db.read() as conn:
        assert conn.execute(sa.text("select count(*) from leases")).scalar() == 0
    db.dispose()


def test_the_scheduler_stops_when_its_server_is_killed(start_server, sqlite_url) -> None:
    import os
    import signal
    import subprocess

    # A server killed outright cannot stop its companion; the companion notices instead.
    server = start_server(env={"USINA_DB_URL": sqlite_url})
    deadline = time.monotonic() + 30
    children: list[str] = []
    while not children and time.monotonic() < deadline:
        out = subprocess.run(
            ["pgrep", "-P", str(server.process.pid), "-f", "usina scheduler"],
            capture_output=True,
            text=True,
        )
        children = out.stdout.split()
        time.sleep(0.2)
    assert children, server.output()
    companion = int(children[0])
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(companion, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(companion, signal.SIGKILL)
        raise AssertionError("the scheduler outlived its killed server by 20 s")
