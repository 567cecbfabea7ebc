"""Routes for managing online endpoints: ``/api/v1/endpoints``.

These live under ``/api/v1`` beside the rest of the REST API; the inference routes a server
also answers (``/v1/endpoints/{name}:predict``, ``/v2/models/...``, ``/invocations``) speak the
serving protocols at the paths of ``usina serve``, so the two never share a path. Every check
runs in the endpoint store (``SqlEndpointStore``); a route only translates JSON.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from usina.errors import NotFound
from usina.registry import parse_model_uri
from usina.server import schemas as s
from usina.server.deps import MAX_PAGE, actor, endpoints, next_offset

if TYPE_CHECKING:
    from usina.serving import Endpoint

router = APIRouter(prefix="/api/v1", tags=["endpoints"])

NAME = Path(max_length=64, description="The endpoint's name.")


class DeploymentModel(s.Strict):
    version: int = Field(ge=1, le=2**31 - 1)
    traffic: int = Field(ge=0, le=100, description="Share of requests, in whole percent.")


class EndpointOut(BaseModel):
    name: str
    model: str
    alias: str | None = Field(description="The alias followed; null when versions are split.")
    deployments: list[DeploymentModel]
    shadow_version: int | None
    sample_rate: float
    max_batch_size: int
    max_latency_ms: float
    generation: int
    created_at: float
    created_by: str
    updated_at: float
    target: str = Field(description="What it serves: models:/m@alias, or v3=90% v4=10%.")
    log_policy: dict[str, Any] | None = Field(
        None, description="The PII policy of its request log rows (docs/pii.md); null: none."
    )


class EndpointIn(s.Strict):
    name: str = Field(max_length=64)
    model: str = Field(
        max_length=256, description="models:/NAME@ALIAS to follow, or models:/NAME/VERSION."
    )
    sample_rate: float = Field(default=1.0, description="Share of requests logged, 0 to 1.")
    max_batch_size: int = Field(default=0, ge=0, le=2**31 - 1, description="0: no batching.")
    max_latency_ms: float = Field(default=5.0, description="Longest wait for a micro-batch.")


class SplitIn(s.Strict):
    deployments: list[DeploymentModel] = Field(max_length=100)


class FollowIn(s.Strict):
    alias: str = Field(max_length=64)


class ShadowIn(s.Strict):
    version: int | None = Field(ge=1, le=2**31 - 1, description="null stops shadowing.")


class ConfigureIn(s.Strict):
    sample_rate: float | None = None
    max_batch_size: int | None = Field(default=None, ge=0, le=2**31 - 1)
    max_latency_ms: float | None = None


class LogPolicyIn(s.Strict):
    policy: dict[str, Any] = Field(description="A PII policy (docs/pii.md).")


class VersionStatsOut(BaseModel):
    """One version's figures; further fields of the request log's figures pass through."""

    model_config = ConfigDict(extra="allow")

    version: int | None
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float
    dropped: dict[str, int] = Field(
        default_factory=dict,
        description="Request log rows dropped in the window, by reason "
        "(queue_full, store_error, writer_crash).",
    )


def endpoint_out(e: Endpoint) -> EndpointOut:
    """The JSON of an ``Endpoint``."""
    return EndpointOut(
        name=e.name,
        model=e.model,
        alias=e.alias,
        deployments=[DeploymentModel(version=d.version, traffic=d.traffic) for d in e.deployments],
        shadow_version=e.shadow_version,
        sample_rate=e.sample_rate,
        max_batch_size=e.max_batch_size,
        max_latency_ms=e.max_latency_ms,
        generation=e.generation,
        created_at=e.created_at,
        created_by=e.created_by,
        updated_at=e.updated_at,
        target=e.target,
        log_policy=e.log_policy,
    )


def stats_out(stats: Any) -> VersionStatsOut:
    """The JSON of a version's figures: every field of the record, and its error rate."""
    return VersionStatsOut(**dataclasses.asdict(stats), error_rate=stats.error_rate)


@router.get("/endpoints", response_model=s.Page[EndpointOut])
def list_endpoints(
    request: Request,
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[EndpointOut]:
    """Endpoints by name, with what they serve."""
    found = endpoints(request, "anonymous").list(limit=limit, offset=offset)
    items = [endpoint_out(e) for e in found]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.post("/endpoints", status_code=201, response_model=EndpointOut)
def create_endpoint(request: Request, body: EndpointIn, who: str = Depends(actor)) -> EndpointOut:
    """Create an endpoint following an alias, or pinned to a version (409 if the name is taken,
    404 naming what the model URI misses, also when the caller may not read the model)."""
    name = parse_model_uri(body.model).name
    caller = getattr(request.state, "caller", None)
    if caller is not None and not caller.allows("usina.models.read", f"models/{name}"):
        # What a missing model answers, so an endpoint cannot probe or serve a hidden model.
        raise NotFound(f"no model named {name!r}; see 'usina models list'", field="name")
    created = endpoints(request, who).create(
        body.name,
        body.model,
        sample_rate=body.sample_rate,
        max_batch_size=body.max_batch_size,
        max_latency_ms=body.max_latency_ms,
    )
    return endpoint_out(created)


@router.get("/endpoints/{name}", response_model=EndpointOut)
def get_endpoint(request: Request, name: str = NAME) -> EndpointOut:
    """One endpoint."""
    return endpoint_out(endpoints(request, "anonymous").get(name))


@router.patch("/endpoints/{name}", response_model=EndpointOut)
def configure_endpoint(
    request: Request, body: ConfigureIn, name: str = NAME, who: str = Depends(actor)
) -> EndpointOut:
    """Change the request-log sampling or micro-batching; fields left out keep their value."""
    changed = endpoints(request, who).configure(
        name,
        sample_rate=body.sample_rate,
        max_batch_size=body.max_batch_size,
        max_latency_ms=body.max_latency_ms,
    )
    return endpoint_out(changed)


@router.delete("/endpoints/{name}", status_code=204)
def delete_endpoint(request: Request, name: str = NAME, who: str = Depends(actor)) -> Response:
    """Delete an endpoint; servers stop answering for it at their next poll."""
    endpoints(request, who).delete(name)
    return Response(status_code=204)


@router.put("/endpoints/{name}/split", response_model=EndpointOut)
def split_traffic(
    request: Request, body: SplitIn, name: str = NAME, who: str = Depends(actor)
) -> EndpointOut:
    """Serve explicit versions with shares summing to 100 (the endpoint stops following)."""
    split: dict[int, int] = {}
    for d in body.deployments:
        split[d.version] = split.get(d.version, 0) + d.traffic
    return endpoint_out(endpoints(request, who).split(name, split))


@router.put("/endpoints/{name}/follow", response_model=EndpointOut)
def follow_alias(
    request: Request, body: FollowIn, name: str = NAME, who: str = Depends(actor)
) -> EndpointOut:
    """Serve whichever version the alias points at (404 if the model has no such alias)."""
    return endpoint_out(endpoints(request, who).follow(name, body.alias))


@router.put("/endpoints/{name}/shadow", response_model=EndpointOut)
def set_shadow(
    request: Request, body: ShadowIn, name: str = NAME, who: str = Depends(actor)
) -> EndpointOut:
    """Send a copy of every request to a version, or stop with ``{"version": null}``."""
    return endpoint_out(endpoints(request, who).set_shadow(name, body.version))


@router.put("/endpoints/{name}/log-policy", response_model=EndpointOut)
def set_log_policy(
    request: Request, body: LogPolicyIn, name: str = NAME, who: str = Depends(actor)
) -> EndpointOut:
    """Keep a PII policy for the endpoint's request log rows; serving workers apply it from
    their next poll."""
    return endpoint_out(endpoints(request, who).set_log_policy(name, body.policy))


@router.delete("/endpoints/{name}/log-policy", response_model=EndpointOut)
def clear_log_policy(request: Request, name: str = NAME, who: str = Depends(actor)) -> EndpointOut:
    """Remove the endpoint's own request-log policy (a server-wide one may still apply)."""
    return endpoint_out(endpoints(request, who).set_log_policy(name, None))


@router.get("/endpoints/{name}/stats", response_model=s.Items[VersionStatsOut])
def endpoint_stats(
    request: Request,
    name: str = NAME,
    since: float = Query(3600.0, gt=0, le=10 * 365 * 86400, description="Seconds to look back."),
) -> s.Items[VersionStatsOut]:
    """Latency p50/p95/p99 and errors per version, from the request log."""
    found = endpoints(request, "anonymous").stats(name, since)
    return s.Items(items=[stats_out(v) for v in found])
