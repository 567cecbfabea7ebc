"""Online serving: endpoints that follow an alias or split traffic, three request protocols,
hot swap, micro-batching, a request log and Prometheus metrics.

Every name here is imported on first use: commands that only read or change endpoints
(``usina endpoints ...``) skip Starlette, the model runtimes and numpy, and the request log's
writer process (``python -m usina.serving.logwriter``, started with each serving worker)
skips the endpoint stores, SQLAlchemy and the registry."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from usina.serving.app import InferenceService, ServingConfig, create_app
    from usina.serving.base import EndpointReader, EndpointStore, EndpointWriter
    from usina.serving.endpoints import SqlEndpointStore, parse_split
    from usina.serving.entities import Deployment, Endpoint
    from usina.serving.http import HttpEndpointStore
    from usina.serving.logquery import QueryResult, VersionStats, endpoint_stats, query_log

# Each name and the module of this package that defines it.
_FROM = {
    "InferenceService": "app",
    "ServingConfig": "app",
    "create_app": "app",
    "EndpointReader": "base",
    "EndpointStore": "base",
    "EndpointWriter": "base",
    "SqlEndpointStore": "endpoints",
    "parse_split": "endpoints",
    "Deployment": "entities",
    "Endpoint": "entities",
    "HttpEndpointStore": "http",
    "QueryResult": "logquery",
    "VersionStats": "logquery",
    "endpoint_stats": "logquery",
    "query_log": "logquery",
}


def __getattr__(name: str) -> Any:
    module = _FROM.get(name)
    if module is None:
        raise AttributeError(f"module 'usina.serving' has no attribute {name!r}")
    return getattr(import_module(f"usina.serving.{module}"), name)


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
