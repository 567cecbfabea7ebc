"""Online serving: endpoints that follow an alias or split traffic, three request protocols,
hot swap, micro-batching, a request log and Prometheus metrics.

The serving app (``create_app``, ``InferenceService``, ``ServingConfig``) is imported on first
use: commands that only read or change endpoints (``usina endpoints ...``) skip Starlette, the
model runtimes and numpy."""

from typing import TYPE_CHECKING, Any

from usina.serving.base import EndpointReader, EndpointStore, EndpointWriter
from usina.serving.endpoints import SqlEndpointStore, parse_split
from usina.serving.entities import Deployment, Endpoint
from usina.serving.http import HttpEndpointStore
from usina.serving.logquery import QueryResult, VersionStats, endpoint_stats, query_log

if TYPE_CHECKING:
    from usina.serving.app import InferenceService, ServingConfig, create_app

_FROM_APP = {"InferenceService", "ServingConfig", "create_app"}


def __getattr__(name: str) -> Any:
    if name in _FROM_APP:
        from usina.serving import app

        return getattr(app, name)
    raise AttributeError(f"module 'usina.serving' has no attribute {name!r}")


__all__ = [
    "Deployment",
    "Endpoint",
    "EndpointReader",
    "EndpointStore",
    "EndpointWriter",
    "HttpEndpointStore",
    "InferenceService",
    "QueryResult",
    "ServingConfig",
    "SqlEndpointStore",
    "VersionStats",
    "create_app",
    "endpoint_stats",
    "parse_split",
    "query_log",
]
