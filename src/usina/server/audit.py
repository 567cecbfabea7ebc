"""Routes of the audit log: ``GET /api/v1/audit`` (filtered, paged) and
``GET /api/v1/audit/verify``. There is no route that appends: records are written by the
server itself, for the requests it answers, so no client can forge one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from usina.audit import AuditRecord, Checkpoint, SqlAuditStore, Verification
from usina.audit.checks import parse_time
from usina.errors import InvalidInput
from usina.server import schemas as s
from usina.server.deps import MAX_PAGE, backends, next_offset

router = APIRouter(prefix="/api/v1", tags=["audit"])

_TIME = (
    "Seconds since 1970, an ISO 8601 date or time (UTC unless it says), or a duration ago "
    "(30m, 2h, 7d)."
)


class AuditRecordOut(BaseModel):
    seq: int = Field(description="Place in the log, from 1, without gaps.")
    time: float = Field(description="When it happened, seconds since 1970.")
    actor: str
    action: str = Field(description="A permission (usina.models.deploy) or an event (auth.login).")
    resource: str = Field(description="What it acted on (models/credit); empty for none.")
    decision: str = Field(description="allow or deny.")
    status: int | None = Field(description="The HTTP status answered.")
    request_id: str
    client: str = Field(description="The client's address.")
    details: dict[str, Any]
    prev_hash: str = Field(description="The hash of record seq - 1 (64 zeros for record 1).")
    hash: str = Field(description="sha256 of this record's canonical JSON and prev_hash.")


class CheckpointOut(BaseModel):
    seq: int
    hash: str
    time: float


class ProblemOut(BaseModel):
    kind: str = Field(description="edited, deleted, reordered, relinked, truncated or rewritten.")
    seq: int = Field(description="The record it names.")
    message: str


class VerificationOut(BaseModel):
    ok: bool = Field(description="True when the chain is intact (and matches the checkpoint).")
    checked: int = Field(description="Records read.")
    head: CheckpointOut = Field(description="The last record: seq, hash, time.")
    problem: ProblemOut | None = Field(description="The first sign of tampering; null if none.")
    checkpoint_seq: int | None


def record_out(r: AuditRecord) -> AuditRecordOut:
    return AuditRecordOut(**{**r.__dict__, "decision": str(r.decision)})


def verification_out(v: Verification) -> VerificationOut:
    return VerificationOut(
        ok=v.ok,
        checked=v.checked,
        head=CheckpointOut(**v.head.__dict__),
        problem=ProblemOut(**v.problem.__dict__) if v.problem else None,
        checkpoint_seq=v.checkpoint_seq,
    )


def _store(request: Request) -> SqlAuditStore:
    return SqlAuditStore(backends(request).db)


@router.get("/audit", response_model=s.Page[AuditRecordOut])
def list_audit(
    request: Request,
    actor: str | None = Query(None, max_length=128, description="Only this actor's."),
    resource: str | None = Query(
        None, max_length=512, description="This resource; a trailing * matches a prefix."
    ),
    action: str | None = Query(
        None, max_length=128, description="This action; a trailing * matches a prefix."
    ),
    decision: str | None = Query(None, max_length=8, description="allow or deny."),
    since: str | None = Query(None, max_length=64, description=f"From this time. {_TIME}"),
    until: str | None = Query(None, max_length=64, description=f"Before this time. {_TIME}"),
    before_seq: int | None = Query(
        None, ge=0, le=2**62, description="Only records before this seq (stable pages)."
    ),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[AuditRecordOut]:
    """Audit records, newest first."""
    found = _store(request).list(
        actor=actor,
        resource=resource,
        action=action,
        decision=decision,
        since=None if since is None else parse_time(since, "since"),
        until=None if until is None else parse_time(until, "until"),
        before_seq=before_seq,
        limit=limit,
        offset=offset,
    )
    items = [record_out(r) for r in found]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.get("/audit/verify", response_model=VerificationOut)
def verify_audit(
    request: Request,
    checkpoint_seq: int | None = Query(
        None, ge=0, le=2**62, description="The record of a checkpoint whose signature you checked."
    ),
    checkpoint_hash: str | None = Query(
        None, pattern=r"^[0-9a-f]{64}$", description="That record's hash, from the checkpoint."
    ),
    checkpoint_time: float = Query(0.0, description="The checkpoint's time (reported only)."),
) -> VerificationOut:
    """Walk the chain and report the first edited, deleted or reordered record; with a
    checkpoint, also a log cut short or rewritten after it. Answers 200 either way: ``ok``
    says whether the log is intact."""
    checkpoint = None
    if (checkpoint_seq is None) != (checkpoint_hash is None):
        raise InvalidInput(
            "give checkpoint_seq and checkpoint_hash together, or neither",
            field="checkpoint_hash" if checkpoint_hash is None else "checkpoint_seq",
        )
    if checkpoint_seq is not None and checkpoint_hash is not None:
        checkpoint = Checkpoint(checkpoint_seq, checkpoint_hash, checkpoint_time)
    return verification_out(_store(request).verify(checkpoint))
