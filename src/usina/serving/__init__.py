"""Online serving: endpoints that follow an alias or split traffic, three request protocols,
hot swap, micro-batching, a request log and Prometheus metrics."""

from usina.serving.app import InferenceService, ServingConfig, create_app
from usina.serving.base import EndpointReader, EndpointStore, EndpointWriter
from usina.serving.endpoints import SqlEndpointStore, parse_split
from usina.serving.entities import Deployment, Endpoint
from usina.serving.http import HttpEndpointStore
from usina.serving.logquery import QueryResult, VersionStats, endpoint_stats, query_log

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
