"""The audit log's records: what a caller asks to record (``AuditEvent``), what the log holds
(``AuditRecord``, with its place in the chain), what a verification found (``Verification``),
and the point a signed checkpoint vouches for (``Checkpoint``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64  # the prev_hash of record 1


class Decision(enum.StrEnum):
    """Whether the request was let through."""

    ALLOW = "allow"
    DENY = "deny"


@dataclass(frozen=True)
class AuditEvent:
    """One thing to record: who did what to which resource, and whether it was allowed.

    ``actor`` is a principal's id or name as the caller knows it; ``action`` a permission name
    (``usina.models.deploy``) or an event (``auth.login``); ``resource`` what it acted on
    (``models/credit``, empty for none); ``details`` a small dict of JSON scalars (or lists of
    them) with no secrets and no request bodies (see ``usina.audit.checks.check_details``).
    ``time`` is when it happened (seconds since the epoch); ``None`` means when appended.
    """

    actor: str
    action: str
    resource: str
    decision: Decision | str
    status: int | None = None
    request_id: str = ""
    client: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    time: float | None = None


@dataclass(frozen=True)
class AuditRecord:
    """One stored record: the event, its place in the log (``seq``, from 1, without gaps), the
    hash of the record before it and its own hash over both (``usina.audit.chain``)."""

    seq: int
    time: float
    actor: str
    action: str
    resource: str
    decision: Decision
    status: int | None
    request_id: str
    client: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Checkpoint:
    """The log as it stood: its last record's ``seq`` and ``hash``, seen at ``time``. A signed
    copy kept elsewhere lets ``verify`` detect a log cut short after it (truncation)."""

    seq: int
    hash: str
    time: float


@dataclass(frozen=True)
class Problem:
    """The first sign of tampering a verification found, and the record it names.

    ``kind`` is ``edited``, ``deleted``, ``reordered``, ``relinked`` (a record's hash was
    recomputed after the next one was written), ``truncated`` or ``rewritten`` (the log
    differs from a checkpoint at the checkpoint's record)."""

    kind: str
    seq: int
    message: str


@dataclass(frozen=True)
class Verification:
    """What walking the chain found: ``problem`` is ``None`` when the log is intact.

    ``checked`` records were read; ``head`` is the last record's seq, hash and time (seq 0 and
    the genesis hash for an empty log); ``checkpoint_seq`` is the checkpoint's record when one
    was given."""

    ok: bool
    checked: int
    head: Checkpoint
    problem: Problem | None = None
    checkpoint_seq: int | None = None
