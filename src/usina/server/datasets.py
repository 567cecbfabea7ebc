"""Routes of datasets: ``GET /api/v1/datasets`` (paged), ``GET /api/v1/datasets/{name}``,
``PUT /api/v1/datasets/{name}/expectations``, ``PUT`` and ``DELETE
/api/v1/datasets/{name}/policy`` (its PII policy, docs/pii.md), ``GET
/api/v1/datasets/{name}/versions``, ``GET /api/v1/datasets/{name}/versions/{version}`` (a
number or ``latest``) and ``POST /api/v1/datasets/{name}/versions`` (record a version whose
Parquet file the caller stored through the artifact routes first; the same content returns the
existing version)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from usina.datasets.entities import Dataset, DatasetVersion, VersionIn
from usina.datasets.sql import SqlDatasetStore
from usina.errors import InvalidInput
from usina.server import schemas as s
from usina.server.deps import MAX_PAGE, actor, backends, next_offset

router = APIRouter(prefix="/api/v1", tags=["datasets"])

_NAME = Path(max_length=128, description="The dataset's name.")


class DatasetOut(BaseModel):
    name: str
    latest: int = Field(description="The newest version; 0 before the first.")
    expectations: list[dict[str, Any]]
    created_at: float
    updated_at: float
    created_by: str
    pii_policy: dict[str, Any] | None = Field(
        None, description="The PII policy every new version is written under (docs/pii.md)."
    )


class VersionOut(BaseModel):
    name: str
    version: int
    digest: str = Field(description="SHA-256 of the version's Parquet file.")
    uri: str = Field(description="The file's key in the artifact store.")
    schema_: list[dict[str, str]] = Field(alias="schema")
    rows: int
    bytes: int
    profile: dict[str, Any]
    source: str
    created_at: float
    created_by: str
    run_id: str
    pii_policy: str = Field("", description="Digest of the PII policy it was written under.")

    model_config = ConfigDict(populate_by_name=True)


class RegisteredOut(BaseModel):
    version: VersionOut
    created: bool = Field(description="False: the same content was already this version.")


class VersionIn_(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    digest: str = Field(pattern="^[0-9a-f]{64}$")
    schema_: list[dict[str, str]] = Field(alias="schema", max_length=10_000)
    rows: int = Field(ge=0, le=2**62)
    bytes: int = Field(ge=0, le=2**62)
    profile: dict[str, Any] = Field(default_factory=dict)
    source: str = Field("", max_length=4096)
    run_id: str = Field("", max_length=64)
    pii_policy: str = Field("", max_length=64)


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: dict[str, Any] = Field(description="A PII policy (docs/pii.md).")


class ExpectationsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expectations: list[dict[str, Any]] = Field(max_length=200)


def dataset_out(d: Dataset) -> DatasetOut:
    return DatasetOut(**{**d.__dict__, "expectations": list(d.expectations)})


def version_out(v: DatasetVersion) -> VersionOut:
    return VersionOut(**{**v.__dict__, "schema": list(v.schema)})


def _store(request: Request, who: str = "local") -> SqlDatasetStore:
    found = backends(request)
    return SqlDatasetStore(found.db, actor=who, artifacts=found.artifacts, keys=found.keys)


@router.get("/datasets", response_model=s.Page[DatasetOut])
def list_datasets(
    request: Request,
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[DatasetOut]:
    """Datasets by name."""
    items = [dataset_out(d) for d in _store(request).list(limit=limit, offset=offset)]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.get("/datasets/{name}", response_model=DatasetOut)
def get_dataset(request: Request, name: str = _NAME) -> DatasetOut:
    """One dataset with its expectations."""
    return dataset_out(_store(request).get(name))


@router.put("/datasets/{name}/expectations", response_model=DatasetOut)
def set_expectations(
    request: Request, body: ExpectationsIn, name: str = _NAME, who: str = Depends(actor)
) -> DatasetOut:
    """Replace a dataset's expectations (the dataset is created if new)."""
    return dataset_out(_store(request, who).set_expectations(name, body.expectations))


@router.put("/datasets/{name}/policy", response_model=DatasetOut)
def set_policy(
    request: Request, body: PolicyIn, name: str = _NAME, who: str = Depends(actor)
) -> DatasetOut:
    """Keep a PII policy on a dataset (created if new): every version written from now on is
    written under it."""
    return dataset_out(_store(request, who).set_policy(name, body.policy))


@router.delete("/datasets/{name}/policy", response_model=DatasetOut)
def clear_policy(request: Request, name: str = _NAME, who: str = Depends(actor)) -> DatasetOut:
    """Remove a dataset's PII policy (the dataset is created if new)."""
    return dataset_out(_store(request, who).set_policy(name, None))


@router.get("/datasets/{name}/versions", response_model=s.Page[VersionOut])
def list_versions(
    request: Request,
    name: str = _NAME,
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[VersionOut]:
    """A dataset's versions, newest first."""
    found = _store(request).versions(name, limit=limit, offset=offset)
    items = [version_out(v) for v in found]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.get("/datasets/{name}/versions/{version}", response_model=VersionOut)
def get_version(
    request: Request,
    name: str = _NAME,
    version: str = Path(max_length=16, description="A version number, or latest."),
) -> VersionOut:
    """One version, with its schema and profile."""
    if version != "latest" and not (version.isdigit() and 0 < int(version) < 2**31):
        raise InvalidInput(
            f"version {version!r} is not a positive integer or 'latest'", field="version"
        )
    number = None if version == "latest" else int(version)
    return version_out(_store(request).get_version(name, number))


@router.post("/datasets/{name}/versions", response_model=RegisteredOut, status_code=201)
def register_version(
    request: Request, body: VersionIn_, name: str = _NAME, who: str = Depends(actor)
) -> RegisteredOut:
    """Record the next version of a dataset, whose file is already in the artifact store."""
    data = body.model_dump(by_alias=True)
    found = _store(request, who).register(
        name, VersionIn(**{**data, "schema": tuple(data["schema"])})
    )
    return RegisteredOut(version=version_out(found.version), created=found.created)
