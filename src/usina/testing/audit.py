"""The contract of an audit store, as a function any backend's tests call.

A store on the database (``SqlAuditStore``) appends, lists and verifies; a store through a
server (``HttpAuditStore``) only lists and verifies, since records are written by the server
itself: its tests give ``make_log``, an ``AuditLog`` on the same installation, to write the
records the reader then reads.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from usina.audit.chain import content_hash
from usina.audit.entities import GENESIS, AuditEvent, Checkpoint, Decision
from usina.errors import InvalidInput
from usina.testing.tracking import expect_error

T0 = 1_700_000_000.0


def _events() -> list[AuditEvent]:
    """Twelve events: three actors, allowed and denied, on models and endpoints."""
    found = []
    for i in range(12):
        actor = ("ana", "bob", "svc-train")[i % 3]
        deny = i % 4 == 3
        found.append(
            AuditEvent(
                actor=actor,
                action="usina.models.deploy" if i % 2 else "usina.endpoints.predict",
                resource=f"models/credit-{i % 2}" if i % 2 else "endpoints/credit",
                decision="deny" if deny else "allow",
                status=403 if deny else 200,
                request_id=f"req-{i}",
                client="127.0.0.1",
                details={"version": i, "reason_id": "r"} if i % 2 else {},
                time=T0 + i,
            )
        )
    return found


def check_audit_store(
    make_client: Callable[[], Any], make_log: Callable[[], Any] | None = None
) -> None:
    """Assert that ``make_client().audit`` (a fresh, empty installation) keeps the audit
    store's contract: what it supports of it.

    Args:
        make_client: a factory of ``usina.Client`` objects on one empty installation.
        make_log: when the client's store cannot append (through a server), a factory of an
            ``AuditLog`` writing to the same installation.
    """
    store = make_client().audit
    log = store if hasattr(store, "append") else None
    if log is None:
        assert make_log is not None, "a store that cannot append needs make_log"
        log = make_log()
    assert not (hasattr(store, "append") and make_log is not None), "give make_log only to readers"

    # An empty log verifies, its head the genesis.
    empty = store.verify()
    assert empty.ok and empty.checked == 0 and (empty.head.seq, empty.head.hash) == (0, GENESIS)
    assert store.list() == []

    # Appends chain each record to the one before, from seq 1, without gaps.
    written = log.append(_events()[:5])
    written += log.append(_events()[5:])
    assert [r.seq for r in written] == list(range(1, 13))
    assert written[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(written))
    assert all(content_hash(r) == r.hash for r in written)
    assert log.append([]) == []

    # Lists: newest first, the records as written, filtered, paged.
    listed = store.list(limit=100)
    assert listed == list(reversed(written)), "every record, newest first, as written"
    assert listed[0].decision == Decision.ALLOW or listed[0].decision == Decision.DENY
    assert {r.actor for r in store.list(actor="bob")} == {"bob"}
    assert len(store.list(actor="bob")) == 4
    assert [r.seq for r in store.list(decision="deny")] == [12, 8, 4]
    assert len(store.list(resource="models/credit-1")) == 6
    assert len(store.list(resource="models/*")) == 6
    assert store.list(resource="models/credit_*") == [], "prefixes are literal"
    assert len(store.list(action="usina.endpoints.predict")) == 6
    assert len(store.list(action="usina.*")) == 12
    assert [r.seq for r in store.list(since=T0 + 3, until=T0 + 6)] == [6, 5, 4]
    assert [r.seq for r in store.list(limit=5, offset=5)] == [7, 6, 5, 4, 3]
    assert [r.seq for r in store.list(before_seq=4)] == [3, 2, 1]
    assert store.list(actor="nobody") == []

    # Bad filters name their field.
    expect_error(InvalidInput, lambda: store.list(decision="maybe"), field="decision")
    expect_error(InvalidInput, lambda: store.list(action="Models Deploy"), field="action")
    expect_error(InvalidInput, lambda: store.list(since=float("nan")), field="since")
    expect_error(InvalidInput, lambda: store.list(since=T0 + 5, until=T0), field="until")
    expect_error(InvalidInput, lambda: store.list(limit=0), field="limit")
    expect_error(InvalidInput, lambda: store.list(offset=-1), field="offset")

    # Verification: intact, and against checkpoints.
    intact = store.verify()
    assert intact.ok and intact.checked == 12 and intact.problem is None
    assert (intact.head.seq, intact.head.hash) == (12, written[-1].hash)
    at_five = Checkpoint(5, written[4].hash, T0)
    assert store.verify(at_five).ok and store.verify(at_five).checkpoint_seq == 5
    ahead = store.verify(Checkpoint(20, "a" * 64, T0))
    assert not ahead.ok and ahead.problem is not None
    assert (ahead.problem.kind, ahead.problem.seq) == ("truncated", 13)
    other = store.verify(Checkpoint(5, "b" * 64, T0))
    assert not other.ok and other.problem is not None
    assert (other.problem.kind, other.problem.seq) == ("rewritten", 5)

    if make_log is not None:
        return  # the checks of appended events are the log's, not the reader's

    # What a record may hold: each refusal names its field, and nothing is written.
    def refused(field: str, **change: Any) -> None:
        base = {"actor": "ana", "action": "auth.login", "resource": "", "decision": "allow"}
        expect_error(InvalidInput, lambda: log.append([AuditEvent(**{**base, **change})]), field)

    refused("actor", actor="")
    refused("action", action="login")
    refused("decision", decision="maybe")
    refused("status", status=99)
    refused("time", time=float("inf"))
    refused("details.password", details={"password": "hunter2"})
    refused("details.access_token", details={"access_token": "abc"})
    refused("details.api_key", details={"api_key": "abc"})
    refused("details.request_body", details={"request_body": "{}"})
    refused("details.header", details={"header": "Bearer abc.def"})
    refused("details.nested", details={"nested": {"a": 1}})
    refused("details", details={"note": "x" * 3000})
    refused("resource", resource="models/\x00")
    assert log.append([AuditEvent("ana", "auth.login", "", "allow", details={"token_id": "t1"})])
    assert store.verify().checked == 13, "refused events wrote nothing"
