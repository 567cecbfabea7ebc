"""The audit log through a usina server: list and verify only. The server has no route that
appends (records are written by the server itself, for the requests it answers), so this store
is an ``AuditReader``, not an ``AuditLog``."""

from __future__ import annotations

import builtins
from typing import Any

from usina.audit.checks import check_filters
from usina.audit.entities import AuditRecord, Checkpoint, Decision, Problem, Verification
from usina.connection import ServerConnection
from usina.errors import InvalidInput
from usina.store.paging import check_page

PAGE = 1000


def record_from_json(d: dict[str, Any]) -> AuditRecord:
    return AuditRecord(
        seq=d["seq"],
        time=d["time"],
        actor=d["actor"],
        action=d["action"],
        resource=d["resource"],
        decision=Decision(d["decision"]),
        status=d["status"],
        request_id=d["request_id"],
        client=d["client"],
        details=dict(d["details"]),
        prev_hash=d["prev_hash"],
        hash=d["hash"],
    )


def verification_from_json(d: dict[str, Any]) -> Verification:
    head = Checkpoint(**d["head"])
    problem = Problem(**d["problem"]) if d["problem"] else None
    return Verification(d["ok"], d["checked"], head, problem, d["checkpoint_seq"])


class HttpAuditStore:
    """The audit log kept by the server ``server`` talks to, read through its API."""

    def __init__(self, server: ServerConnection) -> None:
        self.server = server

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
        filters = {
            "actor": actor,
            "resource": resource,
            "action": action,
            "decision": decision,
            "since": since,
            "until": until,
        }
        found: builtins.list[AuditRecord] = []
        # The first page by offset, the next ones before the last seq seen: records appended
        # meanwhile do not shift them.
        params: dict[str, Any] = {**filters, "before_seq": before_seq, "offset": offset}
        while len(found) < limit:
            want = min(PAGE, limit - len(found))
            page = self.server.call("GET", "/audit", params={**params, "limit": want})
            found.extend(record_from_json(r) for r in page["items"])
            if page["next_offset"] is None:
                break
            params = {**filters, "before_seq": found[-1].seq, "offset": 0}
        return found

    def verify(self, checkpoint: Checkpoint | None = None) -> Verification:
        params: dict[str, Any] = {}
        if checkpoint is not None:
            if not isinstance(checkpoint, Checkpoint):
                raise InvalidInput(f"{checkpoint!r} is not a Checkpoint", field="checkpoint")
            params = {"checkpoint_seq": checkpoint.seq, "checkpoint_hash": checkpoint.hash}
            params["checkpoint_time"] = checkpoint.time
        return verification_from_json(self.server.call("GET", "/audit/verify", params=params))
