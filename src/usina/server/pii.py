"""``POST /api/v1/pii:reidentify``: the original values of ``enc:KEYID:...`` values, under the
server's PII key (``USINA_PII_KEY``), for a caller holding ``usina.pii.reidentify``.

The gate refuses (and audits) a caller without the permission before the route runs; the route
appends its own audit record through ``usina.pii.reidentify`` (allowed or denied: the token's
scope is checked again there). With ``USINA_AUTH=off`` nobody is verified, so every call is
refused, and recorded."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from usina.audit import SqlAuditStore
from usina.server.deps import backends

router = APIRouter(prefix="/api/v1", tags=["pii"])


class ReidentifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: list[str] = Field(min_length=1, max_length=10_000)


class ReidentifyOut(BaseModel):
    values: list[str]


@router.post("/pii:reidentify", response_model=ReidentifyOut)
def reidentify_values(request: Request, body: ReidentifyIn) -> ReidentifyOut:
    """Decrypt values made by the ``encrypt`` operator with this server's key; audited."""
    from usina.pii import load_key, reidentify

    config = request.app.state.config
    caller = getattr(request.state, "caller", None)
    key = load_key(config.pii_key, config.pii_key_file)
    values = reidentify(
        body.values,
        key=key,
        audit=SqlAuditStore(backends(request).db),
        actor=caller.principal if caller is not None else "anonymous",
        grants=caller.grants if caller is not None else (),
        scope=caller.scope if caller is not None else None,
        request_id=request.headers.get("x-request-id", ""),
        client=request.client.host if request.client is not None else "",
    )
    return ReidentifyOut(values=values)
