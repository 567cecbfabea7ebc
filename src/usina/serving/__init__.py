"""Online serving: endpoints that follow an alias or split traffic, three request protocols,
hot swap, micro-batching, a request log and Prometheus metrics."""

from usina.serving.app import InferenceService, ServingConfig, create_app
from usina.serving.endpoints import Deployment, Endpoint, SqlEndpointStore, parse_split
from usina.serving.logquery import QueryResult, VersionStats, endpoint_stats, query_log

__all__ = [
    "Deployment",
    "Endpoint",
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
