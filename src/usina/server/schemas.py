"""The JSON bodies of the REST API, as pydantic models: they validate requests and describe
responses in the OpenAPI document. Responses are built from usina's frozen records."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

# Bounds that keep a request from being absurd before the stores check it in detail.
MAX_BATCH = 10_000
MAX_TEXT = 8_000
_FINITE_INT = Field(ge=-(2**63), le=2**63 - 1)


class Strict(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error rather than ignored."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable name: invalid_input, not_found, conflict...")
    message: str = Field(description="What was wrong and what to do.")
    field: str | None = Field(default=None, description="The input at fault, when there is one.")


class ErrorBody(BaseModel):
    error: ErrorDetail


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_offset: int | None = Field(description="The offset of the next page; null on the last.")


class Items(BaseModel, Generic[T]):
    items: list[T]


# -- tracking -----------------------------------------------------------------------------


class ExperimentOut(BaseModel):
    id: int
    name: str
    created_at: float
    created_by: str
    run_count: int


class ArtifactOut(BaseModel):
    path: str
    digest: str
    size: int


class InputOut(BaseModel):
    name: str
    digest: str
    rows: int | None


class RunOut(BaseModel):
    id: str
    experiment: str
    name: str
    status: str
    start_time: float
    end_time: float | None
    created_by: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    artifacts: list[ArtifactOut]
    inputs: list[InputOut]


class MetricOut(BaseModel):
    key: str
    value: float
    step: int
    timestamp: float


class RunIn(Strict):
    experiment: str = Field(default="default", max_length=256)
    name: str | None = Field(default=None, max_length=256)
    params: dict[str, str] = Field(default_factory=dict, max_length=MAX_BATCH)
    tags: dict[str, str] = Field(default_factory=dict, max_length=MAX_BATCH)


class MetricIn(Strict):
    key: str = Field(max_length=250)
    value: float
    step: int = Field(default=0, ge=-(2**63), le=2**63 - 1)
    timestamp: float | None = None


class BatchIn(Strict):
    metrics: list[MetricIn] = Field(default_factory=list, max_length=MAX_BATCH)
    params: dict[str, str] = Field(default_factory=dict, max_length=MAX_BATCH)
    tags: dict[str, str] = Field(default_factory=dict, max_length=MAX_BATCH)


class ArtifactIn(Strict):
    path: str = Field(max_length=1024)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0, le=2**63 - 1)


class InputIn(Strict):
    name: str = Field(max_length=256)
    digest: str = Field(max_length=64)
    rows: int | None = Field(default=None, ge=0, le=2**63 - 1)


class EndIn(Strict):
    status: str = Field(default="finished", description="finished, failed or killed.")


# -- registry -----------------------------------------------------------------------------


class ColumnModel(Strict):
    name: str = Field(max_length=256)
    dtype: str = Field(max_length=64)


class SignatureModel(Strict):
    inputs: list[ColumnModel] = Field(default_factory=list, max_length=10_000)


class ModelOut(BaseModel):
    name: str
    description: str
    created_at: float
    created_by: str
    latest_version: int
    aliases: dict[str, int]


class VersionOut(BaseModel):
    name: str
    version: int
    uri: str
    digest: str
    size: int
    format: str
    model_class: str
    signature: SignatureModel
    metrics: dict[str, float]
    run_id: str | None
    description: str
    created_at: float
    created_by: str
    aliases: list[str]


class VersionIn(Strict):
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0, le=2**63 - 1)
    format: str = Field(max_length=32, pattern=r"^[a-z0-9_\-]+$")
    model_class: str = Field(max_length=256)
    signature: SignatureModel = Field(default_factory=SignatureModel)
    metrics: dict[str, float] = Field(default_factory=dict, max_length=MAX_BATCH)
    run_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    description: str = Field(default="", max_length=MAX_TEXT)


class LineageOut(BaseModel):
    version: VersionOut
    run: RunOut | None


class AliasIn(Strict):
    version: int = Field(ge=1, le=2**31 - 1)
    reason: str = Field(default="", max_length=MAX_TEXT)


class ReasonIn(Strict):
    reason: str = Field(default="", max_length=MAX_TEXT)


class AliasChangeOut(BaseModel):
    name: str
    alias: str
    action: str
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str
    at: float


# -- artifacts ----------------------------------------------------------------------------


class BlobOut(BaseModel):
    key: str
    size: int
    sha256: str


def version_out(v: Any) -> VersionOut:
    """The JSON of a ``ModelVersion``."""
    return VersionOut(
        name=v.name,
        version=v.version,
        uri=v.uri,
        digest=v.digest,
        size=v.size,
        format=v.format,
        model_class=v.model_class,
        signature=SignatureModel(
            inputs=[ColumnModel(name=c.name, dtype=c.dtype) for c in v.signature.inputs]
        ),
        metrics=v.metrics,
        run_id=v.run_id,
        description=v.description,
        created_at=v.created_at,
        created_by=v.created_by,
        aliases=list(v.aliases),
    )


def run_out(r: Any) -> RunOut:
    """The JSON of a ``Run``."""
    return RunOut(
        id=r.id,
        experiment=r.experiment,
        name=r.name,
        status=r.status.value,
        start_time=r.start_time,
        end_time=r.end_time,
        created_by=r.created_by,
        params=r.params,
        metrics=r.metrics,
        tags=r.tags,
        artifacts=[ArtifactOut(path=a.path, digest=a.digest, size=a.size) for a in r.artifacts],
        inputs=[InputOut(name=i.name, digest=i.digest, rows=i.rows) for i in r.inputs],
    )
