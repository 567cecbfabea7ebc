"""The audit log in the metadata database.

Appends are serialised on the head row (``audit_head``, one row holding the last record's seq
and hash): PostgreSQL takes its row lock with ``SELECT ... FOR UPDATE``, so writers on any
number of server workers or machines queue there; SQLite's ``BEGIN IMMEDIATE`` lets one writer
in at a time. ``seq`` is the primary key besides, so a second record at one place cannot be
stored. The store has no update and no delete.
"""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.audit.chain import record_hash, walk
from usina.audit.checks import canonical_json, check_event, check_filters
from usina.audit.entities import (
    GENESIS,
    AuditEvent,
    AuditRecord,
    Checkpoint,
    Decision,
    Verification,
)
from usina.errors import InvalidInput
from usina.store import Database, insert_if_absent
from usina.store import schema as t
from usina.store.paging import check_page

log = logging.getLogger("usina.audit")

VERIFY_PAGE = 5000
_HEAD_ID = 1


def _decision(value: Any) -> Any:
    try:
        return Decision(value)
    except ValueError:
        return value  # an edited row: kept as stored, so its hash shows the edit


def _details(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {"unreadable": str(text)}
    return value if isinstance(value, dict) else {"unreadable": value}


def _record(row: Any) -> AuditRecord:
    """A row as a record, whatever it holds: an edited row must still reach the chain check."""
    return AuditRecord(
        seq=row.seq,
        time=row.time,
        actor=row.actor,
        action=row.action,
        resource=row.resource,
        decision=_decision(row.decision),
        status=row.status,
        request_id=row.request_id,
        client=row.client,
        details=_details(row.details),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _check_seq(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{field} {value!r} is not a whole number >= 0", field=field)
    return value


class SqlAuditStore:
    """Append to, list and verify the hash-chained audit log.

    Example:
        >>> from usina.audit import AuditEvent
        >>> store = SqlAuditStore(Database("sqlite://"))
        >>> first, second = store.append(
        ...     [
        ...         AuditEvent("ana", "usina.models.deploy", "models/credit", "allow", 200),
        ...         AuditEvent("bob", "usina.models.deploy", "models/credit", "deny", 403),
        ...     ]
        ... )
        >>> second.prev_hash == first.hash
        True
        >>> [r.actor for r in store.list(decision="deny")]
        ['bob']
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, events: Iterable[AuditEvent]) -> builtins.list[AuditRecord]:
        checked = [check_event(e) for e in events]
        if not checked:
            return []

        def tx(conn: Connection) -> builtins.list[AuditRecord]:
            seq, prev = self._lock_head(conn)
            records, rows = [], []
            for e in checked:
                seq += 1
                assert e.time is not None  # check_event fills it in
                decision = Decision(e.decision)
                fields: dict[str, Any] = {
                    "seq": seq,
                    "time": e.time,
                    "actor": e.actor,
                    "action": e.action,
                    "resource": e.resource,
                    "decision": decision.value,
                    "status": e.status,
                    "request_id": e.request_id,
                    "client": e.client,
                    "details": e.details,
                    "prev_hash": prev,
                }
                prev = record_hash(**fields)
                records.append(AuditRecord(**{**fields, "decision": decision, "hash": prev}))
                fields["details"] = canonical_json(e.details).decode() if e.details else "{}"
                fields["hash"] = prev
                rows.append(fields)
            conn.execute(t.audit_records.insert(), rows)
            conn.execute(
                t.audit_head.update()
                .where(t.audit_head.c.id == _HEAD_ID)
                .values(seq=seq, hash=prev)
            )
            return records

        return self.db.write(tx)

    def _lock_head(self, conn: Connection) -> tuple[int, str]:
        query = (
            sa.select(t.audit_head.c.seq, t.audit_head.c.hash)
            .where(t.audit_head.c.id == _HEAD_ID)
            .with_for_update()
        )
        head = conn.execute(query).first()
        if head is None:
            # The head row is gone (someone deleted it): start again from the last record.
            # verify still walks every record, so nothing is hidden by this.
            last = conn.execute(
                sa.select(t.audit_records.c.seq, t.audit_records.c.hash)
                .order_by(t.audit_records.c.seq.desc())
                .limit(1)
            ).first()
            seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
            log.warning("the audit log's head row was missing; rebuilt at record %d", seq)
            insert_if_absent(conn, t.audit_head, {"id": _HEAD_ID, "seq": seq, "hash": prev}, ["id"])
            head = conn.execute(query).one()
        return int(head.seq), str(head.hash)

    def list(
        self,
        *,
        actor: str | None = None,
        resource: str | None = None,
        action: str | None = None,
        decision: str | None = None,
        since: float | None = None,
        until: float | None = None,
        before_seq: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[AuditRecord]:
        check_filters(actor, resource, action, decision, since, until)
        check_page(limit, offset)
        c = t.audit_records.c
        query = sa.select(t.audit_records).order_by(c.seq.desc()).limit(limit).offset(offset)
        if actor is not None:
            query = query.where(c.actor == actor)
        for column, value in ((c.resource, resource), (c.action, action)):
            if value is None:
                continue
            if value.endswith("*"):
                query = query.where(column.startswith(value[:-1], autoescape=True))
            else:
                query = query.where(column == value)
        if decision is not None:
            query = query.where(c.decision == str(Decision(decision)))
        if since is not None:
            query = query.where(c.time >= since)
        if until is not None:
            query = query.where(c.time < until)
        if before_seq is not None:
            query = query.where(c.seq < _check_seq(before_seq, "before_seq"))
        with self.db.read() as conn:
            return [_record(r) for r in conn.execute(query)]

    def verify(self, checkpoint: Checkpoint | None = None) -> Verification:
        if checkpoint is not None and not isinstance(checkpoint, Checkpoint):
            raise InvalidInput(f"{checkpoint!r} is not a Checkpoint", field="checkpoint")
        if checkpoint is not None:
            _check_seq(checkpoint.seq, "checkpoint_seq")
        with self.db.read() as conn:
            # Read before the records: appends only add after it, never before.
            head_seq = conn.execute(
                sa.select(t.audit_head.c.seq).where(t.audit_head.c.id == _HEAD_ID)
            ).scalar()
        return walk(self._all(), self._seq_of_hash, head_seq=head_seq, checkpoint=checkpoint)

    def _all(self) -> Iterator[AuditRecord]:
        """Every record by seq, a page at a time, so memory stays bounded."""
        c = t.audit_records.c
        after: int | None = None
        while True:
            query = sa.select(t.audit_records).order_by(c.seq).limit(VERIFY_PAGE)
            if after is not None:
                query = query.where(c.seq > after)
            with self.db.read() as conn:
                page = [_record(r) for r in conn.execute(query)]
            yield from page
            if len(page) < VERIFY_PAGE:
                return
            after = page[-1].seq

    def _seq_of_hash(self, hash_: str) -> int | None:
        with self.db.read() as conn:
            found = conn.execute(
                sa.select(t.audit_records.c.seq).where(t.audit_records.c.hash == hash_)
            ).scalar()
        return None if found is None else int(found)
