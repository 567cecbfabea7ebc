"""Record pages: the audit log with its filters, batch prediction jobs, and datasets with
their versions, schema and profile."""

from __future__ import annotations

import time

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from usina.audit import SqlAuditStore
from usina.batch.sql import SqlBatchJobStore
from usina.datasets.sql import SqlDatasetStore
from usina.server.deps import backends
from usina.server.ui.render import page

router = APIRouter(prefix="/ui", include_in_schema=False)
PAGE = 100
SINCE = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}


@router.get("/audit")
def audit(
    request: Request,
    actor: str | None = Query(None, max_length=256),
    action: str | None = Query(None, max_length=128),
    resource: str | None = Query(None, max_length=512),
    decision: str | None = Query(None, pattern="^(allow|deny)$"),
    since: str | None = Query(None, pattern="^(1h|24h|7d|30d)$"),
    before: int | None = Query(None, ge=1, le=2**62, description="Records before this seq."),
) -> Response:
    """The audit log, newest first, filtered by actor, action, resource, decision and age."""
    store = SqlAuditStore(backends(request).db)
    found = store.list(
        actor=actor or None,
        action=action or None,
        resource=resource or None,
        decision=decision or None,
        since=time.time() - SINCE[since] if since else None,
        before_seq=before,
        limit=PAGE,
    )
    filters = {
        "actor": actor or "",
        "action": action or "",
        "resource": resource or "",
        "decision": decision or "",
        "since": since or "",
    }
    older = found[-1].seq if len(found) == PAGE else None
    context = {"records": found, "filters": filters, "older": older, "spans": list(SINCE)}
    return page(request, "audit.html", "Audit log", context, section="audit")


@router.get("/batch")
def batch(
    request: Request,
    status: str | None = Query(None, pattern="^(running|succeeded|failed)$"),
    offset: int = Query(0, ge=0, le=2**31),
) -> Response:
    """Batch prediction jobs, newest first."""
    b = backends(request)
    store = SqlBatchJobStore(b.db, actor="anonymous", heartbeat_timeout=b.heartbeat_timeout)
    found = store.list(status=status or None, limit=PAGE, offset=offset)
    context = {"jobs": found, "status": status or "", "offset": offset, "more": len(found) == PAGE}
    return page(request, "batch.html", "Batch jobs", context, section="batch")


def _datasets(request: Request) -> SqlDatasetStore:
    b = backends(request)
    return SqlDatasetStore(b.db, actor="anonymous", artifacts=b.artifacts, keys=b.keys)


@router.get("/datasets")
def datasets(request: Request) -> Response:
    """Datasets by name with their latest version."""
    found = _datasets(request).list(limit=PAGE)
    return page(request, "datasets.html", "Datasets", {"datasets": found}, section="datasets")


@router.get("/datasets/{name}")
def dataset(request: Request, name: str = Path(max_length=128)) -> Response:
    """One dataset: its versions, and the latest version's schema and profile."""
    store = _datasets(request)
    found = store.get(name)
    versions = store.versions(name, limit=PAGE)
    latest = versions[0] if versions else None
    context = {"dataset": found, "versions": versions, "latest": latest}
    return page(request, "dataset.html", f"Dataset {name}", context, section="datasets")
