"""The audit log: one hash-chained, append-only record of who did what to which resource, and
whether it was allowed.

``SqlAuditStore`` appends, lists and verifies on the metadata database; ``HttpAuditStore``
lists and verifies through a server (records are written only by the server itself);
``AuditRecorder`` takes records from the request path and writes them in batches off it;
``checkpoints`` signs and checks the exported head of the log. See docs/audit.md.
"""

from usina.audit.base import AuditLog, AuditReader, AuditStore
from usina.audit.entities import (
    GENESIS,
    AuditEvent,
    AuditRecord,
    Checkpoint,
    Decision,
    Problem,
    Verification,
)
from usina.audit.http import HttpAuditStore
from usina.audit.recorder import AuditRecorder
from usina.audit.sql import SqlAuditStore

__all__ = [
    "GENESIS",
    "AuditEvent",
    "AuditLog",
    "AuditReader",
    "AuditRecord",
    "AuditRecorder",
    "AuditStore",
    "Checkpoint",
    "Decision",
    "HttpAuditStore",
    "Problem",
    "SqlAuditStore",
    "Verification",
]
