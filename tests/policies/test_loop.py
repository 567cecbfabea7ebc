"""The loop end to end: ``usina server`` with its own scheduler process, the real serving app,
a real SMTP server; the test only sends traffic, labels and monitor runs, and watches.

Each decision happens once, in order, with its record (an event, an e-mail, the alias history);
a failing gate leaves traffic as it was; a rollback restores the predecessor on the figures of
one window. A server killed (SIGKILL) in the middle of a canary resumes it after a restart,
with one champion throughout; two servers on one PostgreSQL database take each decision once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest

from policies.harness import (
    ENDPOINT,
    MAIL,
    MODEL,
    POLICY,
    Traffic,
    breach_twice,
    drifted,
    event_of,
    install_champion,
    kinds,
    last_event_id,
    policy_yaml,
    regressed,
)
from resources.waiting import wait_until
from usina.client import Client

LOOP = ["retrain_started", "gate_passed", "canary_started"]


def _env(db_url: str, inbox: Any = None) -> dict[str, str]:
    env = {
        "USINA_DB_URL": db_url,
        "USINA_SCHEDULER_INTERVAL": "0.2",
        "USINA_REQUEST_LOG_FLUSH_MS": "100",
        "USINA_REQUEST_LOG_FILE_MS": "100",
        "USINA_SERVE_POLL_INTERVAL": "0.1",
        "USINA_SMTP_STARTTLS": "false",
    }
    if inbox is not None:
        env |= {"USINA_SMTP_HOST": inbox.host, "USINA_SMTP_PORT": str(inbox.port)}
    return env


@pytest.fixture
def remote() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for c in made:
        c.close()


def _client(made: list[Client], url: str) -> Client:
    c = Client(url, actor="tester")
    made.append(c)
    return c


def _wait_event(client: Client, kind: str, after: int, timeout: float = 60) -> Any:
    return wait_until(lambda: event_of(client, kind, after), timeout, f"a {kind} event")


def _policy_mails(inbox: Any) -> list[str]:
    return [
        str(m.message["Subject"])
        for m in inbox.mails
        if str(m.message["Subject"]).startswith(f"[usina] policy {POLICY}:")
    ]


def _champion(client: Client) -> int:
    return client.get_version(f"models:/{MODEL}@champion").version


def _split(client: Client) -> dict[int, int]:
    return {d.version: d.traffic for d in client.endpoints.get(ENDPOINT).deployments}


def test_the_loop_runs_by_itself_survives_a_kill_and_records_each_decision_once(
    start_server, sqlite_url: str, smtp_server, remote
) -> None:  # type: ignore[no-untyped-def]
    env = _env(sqlite_url, smtp_server)
    server = start_server(env=env)
    client = _client(remote, server.url)
    install_champion(client)
    client.policies.apply(policy_yaml(window=3.0))
    with closing(Traffic(server.url, client)) as traffic:
        # Drift: two breached windows, and the loop retrains, gates and starts a canary.
        breach_twice(client, traffic)
        canary = _wait_event(client, "canary_started", 0)
        assert kinds(client) == LOOP
        assert _split(client) == {1: 70, 2: 30}
        assert client.get_version(f"models:/{MODEL}@challenger").version == 2
        gate = event_of(client, "gate_passed")
        assert gate.version == 2 and gate.figures["gate"]["passed"]
        assert gate.figures["gate"]["candidate"]["accuracy"] > 0.9
        traffic.send(20, drifted)
    # SIGKILL the server, its workers and its scheduler in the middle of the canary: the row
    # and the traffic split stay consistent, with one champion.
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(30)
    assert _stored(sqlite_url) == ("canary", 1, 1)
    server = start_server(env=env)
    client = _client(remote, server.url)
    assert _split(client) == {1: 70, 2: 30}, "the canary's split survived the kill"
    with closing(Traffic(server.url, client, seed=1)) as traffic:
        # The restarted scheduler resumes the canary; its window holds: promoted.
        promoted = traffic.until(lambda: event_of(client, "promoted", canary.id), drifted, 60)
        assert kinds(client, canary.id) == ["promoted"]
        assert promoted.version == 2 and _champion(client) == 2
        endpoint = client.endpoints.get(ENDPOINT)
        assert endpoint.alias == "champion" and not endpoint.deployments
        assert "challenger" not in client.registry.get_model(MODEL).aliases
        # A regression within the watch period: rolled back on the figures of one window.
        rolled = traffic.until(lambda: event_of(client, "rolled_back", promoted.id), regressed, 60)
        assert rolled.version == 1 and _champion(client) == 1
        assert rolled.figures["live"]["labelled"] >= 20
        assert rolled.figures["window_s"] <= 3.0, "decided on the figures of one window"
        history = client.alias_history(MODEL, "champion")
        assert [h.to_version for h in history] == [1, 2, 1]
        assert history[1].actor == f"policy-{POLICY}" and "promoted" in history[1].reason
        assert history[2].actor == f"policy-{POLICY}" and "rolled back" in history[2].reason
        # The policy acts as its own service account, bound to its role.
        assert _service_account(sqlite_url) == [("policy-engine", "*")]
        assert {e.actor for e in client.events.list(policy=POLICY)} == {f"policy-{POLICY}"}
        # A bad candidate: the gate refuses it, and traffic stays as it was.
        mark = last_event_id(client)
        before = client.endpoints.get(ENDPOINT)
        client.policies.apply(policy_yaml(flip=True, window=3.0))
        breach_twice(client, traffic)
        refused = _wait_event(client, "gate_failed", mark)
        assert refused.version == 3 and not refused.figures["gate"]["passed"]
        assert kinds(client, mark) == ["retrain_started", "gate_failed"]
        after = client.endpoints.get(ENDPOINT)
        assert (after.alias, after.deployments, after.shadow_version) == (
            before.alias,
            before.deployments,
            before.shadow_version,
        )
        assert _champion(client) == 1
        assert client.policies.rollout(POLICY).state == "idle"
    every = [*LOOP, "promoted", "rolled_back", "retrain_started", "gate_failed"]
    assert kinds(client) == every
    # Each decision went to the monitor's channel once, in order.
    expected = [k.replace("_", " ") for k in every]
    wait_until(lambda: len(_policy_mails(smtp_server)) == len(every), 30, "the events' e-mails")
    subjects = _policy_mails(smtp_server)
    assert [s.split(": ", 1)[1].rsplit(f" {MODEL}", 1)[0] for s in subjects] == expected
    assert all(m.recipients == [MAIL] for m in smtp_server.mails)
    rollback = next(m for m in smtp_server.mails if "rolled back" in m.message["Subject"])
    assert "rolled back to v1" in rollback.message.get_payload(decode=True).decode()
    # The refused candidate shows its gate report.
    shown = subprocess.run(
        [sys.executable, "-m", "usina", "models", "show", f"models:/{MODEL}/3"],
        env={**os.environ, "USINA_URL": server.url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert "gate      failed (loop" in shown.stdout
    assert "FAIL accuracy >= 0.8:" in shown.stdout


def _service_account(db_url: str) -> list[tuple[str, str]]:
    """The bindings (role, resource) of the policy's service account (identity routes need a
    token; the test reads the database)."""
    from usina.identity.sql import SqlIdentityStore
    from usina.store import Database

    db = Database(db_url)
    try:
        identity = SqlIdentityStore(db)
        account = f"service-account:policy-{POLICY}"
        assert identity.get_principal(account).kind == "service-account"
        return [(b.role, b.resource) for b in identity.list_bindings(principal=account)]
    finally:
        db.dispose()


def _stored(db_url: str) -> tuple[str, int, int]:
    """The rollout's state, and how many champion and challenger aliases the database holds."""
    import sqlalchemy as sa

    from usina.store import Database

    db = Database(db_url)
    try:
        with db.read() as conn:
            state = conn.execute(sa.text("select state from policy_rollouts")).scalar()
            count = "select count(*) from aliases where alias = :a"
            champions = conn.execute(sa.text(count), {"a": "champion"}).scalar()
            challengers = conn.execute(sa.text(count), {"a": "challenger"}).scalar()
    finally:
        db.dispose()
    return str(state), int(champions or 0), int(challengers or 0)


def test_two_servers_on_one_postgresql_database_take_each_decision_once(
    pg_url: str, start_server, remote
) -> None:  # type: ignore[no-untyped-def]
    # pg_url first: its database is dropped after the servers on it have stopped.
    env = _env(pg_url)
    first = start_server(env=env)
    second = start_server(env=env)
    client = _client(remote, first.url)
    install_champion(client)
    client.policies.apply(policy_yaml())
    with closing(Traffic(second.url, client)) as traffic:
        breach_twice(client, traffic)
        canary = _wait_event(client, "canary_started", 0)
        traffic.until(lambda: event_of(client, "promoted", canary.id), drifted, 60)
    assert kinds(client) == [*LOOP, "promoted"]
    generations = [e.generation for e in client.events.list(policy=POLICY)]
    assert generations == sorted(set(generations))
    moves = [h for h in client.alias_history(MODEL, "champion") if h.actor.startswith("policy-")]
    assert [h.to_version for h in moves] == [2]
    assert len(client.registry.list_versions(MODEL)) == 2
    assert _stored(pg_url) == ("watching", 1, 0)
