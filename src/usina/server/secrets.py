"""Routes of secrets: ``GET /api/v1/secrets`` (names and history), ``GET``, ``PUT`` and
``DELETE /api/v1/secrets/{name}``, and ``GET /api/v1/secrets/{name}/value``, the one route that
answers a value (``usina.secrets.read``; the audit trail records every call, allowed or not).
Values are sealed with the server's master key before they reach the database."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from usina.secrets.entities import MAX_VALUE_BYTES, SecretInfo
from usina.secrets.sql import SqlSecretStore
from usina.server import schemas as s
from usina.server.deps import MAX_PAGE, actor, backends, next_offset

router = APIRouter(prefix="/api/v1", tags=["secrets"])

_NAME = Path(max_length=128, description="The secret's name.")


class SecretOut(BaseModel):
    name: str
    version: int = Field(description="How many times it was set.")
    created_at: float
    updated_at: float
    updated_by: str


class SecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=MAX_VALUE_BYTES)


class SecretValue(BaseModel):
    name: str
    value: str


def _out(info: SecretInfo) -> SecretOut:
    return SecretOut(**info.__dict__)


def _store(request: Request, who: str = "local") -> SqlSecretStore:
    b = backends(request)
    return SqlSecretStore(b.db, actor=who, keys=b.keys)


@router.get("/secrets", response_model=s.Page[SecretOut])
def list_secrets(
    request: Request,
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[SecretOut]:
    """Secrets by name, without their values."""
    items = [_out(i) for i in _store(request).list(limit=limit, offset=offset)]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.get("/secrets/{name}", response_model=SecretOut)
def get_secret(request: Request, name: str = _NAME) -> SecretOut:
    """One secret's name and history, without its value."""
    return _out(_store(request).get(name))


@router.get("/secrets/{name}/value", response_model=SecretValue)
def reveal_secret(request: Request, name: str = _NAME, who: str = Depends(actor)) -> SecretValue:
    """The secret's value (audited)."""
    return SecretValue(name=name, value=_store(request, who).reveal(name))


@router.put("/secrets/{name}", response_model=SecretOut)
def set_secret(
    request: Request, body: SecretIn, name: str = _NAME, who: str = Depends(actor)
) -> SecretOut:
    """Store a value under ``name``: a new secret, or its next version."""
    return _out(_store(request, who).set(name, body.value))


@router.delete("/secrets/{name}", status_code=204)
def delete_secret(request: Request, name: str = _NAME) -> Response:
    """Remove a secret."""
    _store(request).delete(name)
    return Response(status_code=204)
