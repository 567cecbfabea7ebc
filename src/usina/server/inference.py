"""Online endpoints on the server: the routes of ``usina serve``, at the same paths, on the
server's port.

Each worker builds one :class:`~usina.serving.InferenceService` over the server's database and
artifact store, adds its protocol routes to the server's router (they stay out of the OpenAPI
document: they speak Vertex AI, Open Inference and MLflow, not the REST API) and starts and
stops it from the server's lifespan. ``/metrics``, ``/ping`` and ``/health`` of ``usina serve``
are left out: the server has its own ``/metrics`` (which adds the serving metrics), ``/healthz``
and ``/readyz``.

This module imports the serving stack (numpy among it), so the server imports it only when
serving is on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.routing import Match, Route

from usina.serving import InferenceService, ServingConfig
from usina.serving.app import inference_routes

if TYPE_CHECKING:
    from fastapi import FastAPI

    from usina.artifacts import ArtifactStore
    from usina.identity.gate import Gate
    from usina.store import Database


class TemplateRoute(Route):
    """A route that names itself in the request scope, as FastAPI's own routes do.

    The server's request metrics label by ``scope["route"].path``; without this, FastAPI's
    router leaves plain Starlette routes unnamed and every prediction would count as
    ``unmatched``. The label is the template (``/v1/endpoints/{name}:predict``), never the name a
    client typed, so label values stay bounded.
    """

    def matches(self, scope: Any) -> tuple[Match, Any]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child


def add_inference(
    app: FastAPI,
    db: Database,
    artifacts: ArtifactStore,
    config: ServingConfig,
    gate: Gate | None = None,
) -> InferenceService:
    """Answer the inference protocols on ``app``; the caller starts and stops the service.

    With a ``gate`` that requires tokens, predict routes check access themselves (answering
    refusals in their protocol's shape); the server's guard wraps the other routes."""
    service = InferenceService(db, artifacts, config, gate)
    for route in inference_routes(service, with_ops=False):
        app.router.routes.append(
            TemplateRoute(route.path, route.endpoint, methods=route.methods, name=route.name)
        )
    return service
