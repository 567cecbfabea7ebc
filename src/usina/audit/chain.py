"""The hash chain: how a record's hash is computed, and the walk that finds the first record
that was edited, deleted or reordered.

A record's hash is ``sha256`` (hex) of the canonical JSON (sorted keys, no spaces, UTF-8) of
the object::

    {"action", "actor", "client", "decision", "details", "prev_hash", "request_id",
     "resource", "seq", "status", "time_us"}

where ``time_us`` is the record's time in whole microseconds and ``prev_hash`` the hash of the
record before it (64 zeros for record 1). Changing any field, the order, or a record's place
changes a hash that a later record, or a checkpoint, holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from usina.audit.checks import canonical_json
from usina.audit.entities import GENESIS, AuditRecord, Checkpoint, Problem, Verification


def time_us(time: float) -> int:
    """A record's time as whole microseconds, as hashed."""
    return round(time * 1_000_000)


def record_hash(
    *,
    seq: int,
    time: float,
    actor: str,
    action: str,
    resource: str,
    decision: str,
    status: int | None,
    request_id: str,
    client: str,
    details: dict[str, Any],
    prev_hash: str,
) -> str:
    """The hash of a record with these fields, chained to ``prev_hash``."""
    encoded = canonical_json(
        {
            "seq": seq,
            "time_us": time_us(time),
            "actor": actor,
            "action": action,
            "resource": resource,
            "decision": str(decision),
            "status": status,
            "request_id": request_id,
            "client": client,
            "details": details,
            "prev_hash": prev_hash,
        }
    )
    return hashlib.sha256(encoded).hexdigest()


def content_hash(r: AuditRecord) -> str:
    """The hash ``r``'s fields give now (equal to ``r.hash`` unless it was edited; empty when
    an edit left fields no record can hold, such as a number too large to encode)."""
    try:
        return _content_hash(r)
    except (TypeError, ValueError):  # orjson's encode error is a TypeError
        return ""


def _content_hash(r: AuditRecord) -> str:
    return record_hash(
        seq=r.seq,
        time=r.time,
        actor=r.actor,
        action=r.action,
        resource=r.resource,
        decision=str(r.decision),
        status=r.status,
        request_id=r.request_id,
        client=r.client,
        details=r.details,
        prev_hash=r.prev_hash,
    )


def _missing(first: int, last: int) -> str:
    if first == last:
        return f"record {first} is missing: it was deleted"
    return f"records {first} to {last} are missing: they were deleted"


def walk(
    records: Iterable[AuditRecord],
    seq_of_hash: Callable[[str], int | None],
    *,
    head_seq: int | None = None,
    checkpoint: Checkpoint | None = None,
) -> Verification:
    """Check ``records`` (in ``seq`` order, from the first) and report the first problem.

    Args:
        records: every record of the log, by ``seq``.
        seq_of_hash: where the record with this hash now sits (``None`` if none has it); it
            tells a reordered record from a deleted one.
        head_seq: the seq the log's head row holds, if any: a log that ends before it was cut.
        checkpoint: a checkpoint whose signature the caller checked: the log must hold its
            record with its hash.
    """
    prev_seq, prev_hash, prev_time = 0, GENESIS, 0.0
    checked = 0
    cp_hash: str | None = None

    def report(problem: Problem) -> Verification:
        head = Checkpoint(prev_seq, prev_hash, prev_time)
        seq = checkpoint.seq if checkpoint else None
        return Verification(False, checked, head, problem, seq)

    for r in records:
        checked += 1
        expected = prev_seq + 1
        if r.prev_hash != prev_hash:
            moved = seq_of_hash(r.prev_hash)
            if moved is not None and moved > r.seq:
                return report(
                    Problem(
                        "reordered",
                        r.seq,
                        f"record {r.seq} is out of order: in the chain it follows the record "
                        f"now at {moved}",
                    )
                )
        if r.seq != expected:
            return report(Problem("deleted", expected, _missing(expected, r.seq - 1)))
        if content_hash(r) != r.hash:
            return report(
                Problem(
                    "edited",
                    r.seq,
                    f"record {r.seq} was edited: its fields no longer give its hash",
                )
            )
        if r.prev_hash != prev_hash:
            return report(
                Problem(
                    "relinked",
                    prev_seq,
                    f"record {prev_seq} was edited or replaced after record {r.seq} was "
                    f"written: record {r.seq} holds another hash for it",
                )
            )
        prev_seq, prev_hash, prev_time = r.seq, r.hash, r.time
        if checkpoint is not None and r.seq == checkpoint.seq:
            cp_hash = r.hash

    if head_seq is not None and head_seq > prev_seq:
        return report(
            Problem(
                "truncated",
                prev_seq + 1,
                f"the log ends at record {prev_seq} but its head says {head_seq}: "
                + _missing(prev_seq + 1, head_seq),
            )
        )
    if checkpoint is not None:
        if checkpoint.seq > prev_seq:
            return report(
                Problem(
                    "truncated",
                    prev_seq + 1,
                    f"the log ends at record {prev_seq} but the checkpoint covers record "
                    f"{checkpoint.seq}: " + _missing(prev_seq + 1, checkpoint.seq),
                )
            )
        if checkpoint.seq == 0:
            cp_hash = GENESIS
        if cp_hash != checkpoint.hash:
            return report(
                Problem(
                    "rewritten",
                    checkpoint.seq,
                    f"record {checkpoint.seq} differs from the checkpoint: the log was "
                    "rewritten from there or before",
                )
            )
    head = Checkpoint(prev_seq, prev_hash, prev_time)
    return Verification(True, checked, head, None, checkpoint.seq if checkpoint else None)
