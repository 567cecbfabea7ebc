"""Routes of late labels: ``POST /api/v1/endpoints/{name}/labels`` stores a batch (all or
nothing, each request checked against the endpoint's request log), ``GET`` lists them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, Field

from usina.monitoring.labels_sql import SqlLabelStore
from usina.server import schemas as s
from usina.server.deps import MAX_PAGE, actor, backends, next_offset

router = APIRouter(prefix="/api/v1", tags=["monitoring"])


class LabelReceiptOut(BaseModel):
    endpoint: str
    stored: int = Field(description="Labels stored by this batch.")
    replaced: int = Field(description="Of those, labels that replaced an earlier one.")


class LabelOut(BaseModel):
    endpoint: str
    request_id: str
    row: int = Field(description="The row of the request (0 for one-row requests).")
    label: Any = Field(description="A JSON scalar.")
    time: float = Field(description="When the label arrived, seconds since 1970.")
    created_by: str


_BODY = Body(
    ...,
    description='A list of {"request_id": ..., "label": ...} (optionally "row"), or of '
    '{"<key column>": <value>, "label": ...}.',
)


def label_store(request: Request, who: str) -> SqlLabelStore:
    b = backends(request)
    return SqlLabelStore(b.db, b.artifacts, actor=who)


@router.post("/endpoints/{name}/labels", response_model=LabelReceiptOut)
def ingest_labels(
    request: Request,
    name: str,
    body: list[dict[str, Any]] = _BODY,
    now: float | None = Query(None, description="The labels' time (default: now)."),
    who: str = Depends(actor),
) -> LabelReceiptOut:
    """Store labels of logged requests; the same row labelled again keeps the later label.
    A request missing from the log refuses the whole batch (400, naming it)."""
    found = label_store(request, who).ingest(name, body, now)
    return LabelReceiptOut(**found.__dict__)


@router.get("/endpoints/{name}/labels", response_model=s.Page[LabelOut])
def list_labels(
    request: Request,
    name: str,
    since: float | None = Query(None, description="Labels received from this time."),
    limit: int = Query(1000, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[LabelOut]:
    """The endpoint's labels, oldest first."""
    found = label_store(request, "anonymous").list(name, since=since, limit=limit, offset=offset)
    items = [LabelOut(**x.__dict__) for x in found]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))
