"""The chain and its checks in-process: edits that leave odd values still read as edits, the
hash's encoding is the documented one, and times parse in every documented form."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from usina.audit import GENESIS, AuditEvent, SqlAuditStore
from usina.audit.checks import canonical_json, parse_time
from usina.errors import InvalidInput
from usina.store import Database
from usina.store import schema as t

on_sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def store(db_url: str) -> Iterator[SqlAuditStore]:
    db = Database(db_url)
    s = SqlAuditStore(db)
    s.append(
        AuditEvent("ana", "usina.models.read", f"models/m{i}", "allow", 200, details={"i": i})
        for i in range(5)
    )
    yield s
    db.dispose()


def _set(store: SqlAuditStore, seq: int, **values: object) -> None:
    with store.db.engine.begin() as conn:
        conn.execute(t.audit_records.update().where(t.audit_records.c.seq == seq).values(**values))


@on_sqlite
@pytest.mark.parametrize(
    "values",
    [
        {"details": "not json"},
        {"details": "[1, 2]"},
        {"decision": "maybe"},
        {"time": 1e300},
        {"status": None},
        {"hash": "f" * 64},
        {"prev_hash": "e" * 64},
    ],
    ids=lambda v: next(iter(v)),
)
def test_odd_edits_read_as_edits(store: SqlAuditStore, values: dict[str, object]) -> None:
    _set(store, 3, **values)
    verification = store.verify()
    assert not verification.ok and verification.problem is not None
    assert (verification.problem.kind, verification.problem.seq) == ("edited", 3)
    assert verification.head.seq == 2, "the head reported is the last good record"


def test_the_hash_is_sha256_of_the_documented_canonical_json(store: SqlAuditStore) -> None:
    record = store.list(limit=1)[0]
    fields = {
        "seq": record.seq,
        "time_us": round(record.time * 1_000_000),
        "actor": record.actor,
        "action": record.action,
        "resource": record.resource,
        "decision": str(record.decision),
        "status": record.status,
        "request_id": record.request_id,
        "client": record.client,
        "details": record.details,
        "prev_hash": record.prev_hash,
    }
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(text.encode()).hexdigest() == record.hash


def test_canonical_json_is_pythons_sorted_compact_json() -> None:
    for value in ({"b": 1.5e16, "a": [1, "é", None, True], "c": 0.1}, {"x": -(2**53)}, {}):
        expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert canonical_json(value) == expected.encode()


@on_sqlite
def test_a_lost_head_row_is_rebuilt_from_the_records(store: SqlAuditStore) -> None:
    with store.db.engine.begin() as conn:
        conn.execute(t.audit_head.delete())
    (record,) = store.append([AuditEvent("bob", "auth.login", "", "deny", 401)])
    assert record.seq == 6 and store.verify().ok
    with store.db.read() as conn:
        assert conn.execute(sa.select(t.audit_head.c.seq)).scalar() == 6


@on_sqlite
def test_an_empty_log_after_a_deletion_of_everything(store: SqlAuditStore) -> None:
    with store.db.engine.begin() as conn:
        conn.execute(t.audit_records.delete())
        conn.execute(t.audit_head.update().values(seq=0, hash=GENESIS))
    assert store.verify().ok, "a wiped log and head look like a new log: checkpoints catch it"


def test_times_parse_in_every_documented_form() -> None:
    now = 1_764_590_000.0
    assert parse_time("1764590000", "since") == 1_764_590_000.0
    assert parse_time("2h", "since", now=now) == now - 7200
    assert parse_time("30m", "since", now=now) == now - 1800
    assert parse_time("7d", "since", now=now) == now - 7 * 86400
    assert parse_time("2025-12-01", "since") == 1_764_547_200.0
    assert parse_time("2025-12-01T10:00:00Z", "since") == 1_764_583_200.0
    assert parse_time("2025-12-01T10:00:00+01:00", "since") == 1_764_579_600.0
    for bad in ("yesterday", "", "nan", "-5", "2h ago", "1e400"):
        with pytest.raises(InvalidInput) as caught:
            parse_time(bad, "since")
        assert caught.value.field == "since"
