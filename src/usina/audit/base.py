"""The audit store protocols: ``AuditLog`` (append, only on the database: records are written
by the server itself, never through its API) and ``AuditReader`` (list and verify, on the
database and through a server). ``SqlAuditStore`` is both; ``HttpAuditStore`` is a reader.
``usina.testing.check_audit_store`` checks each for what it supports.

Example:
    >>> import usina
    >>> from usina.audit import AuditEvent
    >>> client = usina.Client("sqlite://", "memory://")
    >>> [r.seq for r in client.audit.append([AuditEvent("ana", "auth.login", "", "allow")])]
    [1]
    >>> client.audit.verify().ok
    True
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Protocol

from usina.audit.entities import AuditEvent, AuditRecord, Checkpoint, Verification


class AuditLog(Protocol):
    """The one write: append records at the end of the chain."""

    def append(self, events: Iterable[AuditEvent]) -> builtins.list[AuditRecord]:
        """Check every event, then chain them after the last record in one transaction (all
        or none), serialised with every other writer. Returns the stored records."""
        ...


class AuditReader(Protocol):
    """Reading the log: filtered lists, and a walk of the whole chain."""

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
        """Records, newest first. ``actor`` and ``decision`` match exactly; ``resource`` and
        ``action`` too, or as a prefix when they end with ``*``; ``since`` and ``until`` bound
        the time (seconds since the epoch, ``until`` excluded); ``before_seq`` keeps records
        before that seq (stable pages while records are appended)."""
        ...

    def verify(self, checkpoint: Checkpoint | None = None) -> Verification:
        """Walk the chain from record 1 and report the first edited, deleted or reordered
        record; with a ``checkpoint`` (its signature already checked), also a log cut short or
        rewritten after it."""
        ...


class AuditStore(AuditLog, AuditReader, Protocol):
    """The audit log on the metadata database."""
