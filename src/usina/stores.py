"""The store of every resource, by how an installation is reached: reading this file tells
what exists.

A target is a database URL (``sqlite://...``, ``postgresql://...``: the SQL stores) or a server
URL (``http://``, ``https://``: the HTTP stores, through one ``ServerConnection``). A resource
is one row of :data:`STORES`: its SQL store and its HTTP store, as ``module:Class``, imported
only when a client first uses that resource.

A store's constructor takes the database (SQL) or the server connection (HTTP) first; of its
other parameters, these are supplied by name when it has them: ``actor``, ``artifacts``,
``heartbeat_timeout``, ``topics_url`` (the topic log), ``keys`` (the master key ring, ``None``
without one), and the name of any other resource (``registry``, ``tracking``...), which
receives that resource's store on the same installation.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

from usina.artifacts import ArtifactStore
from usina.connection import ServerConnection
from usina.crypto.keys import KeyProvider
from usina.errors import InvalidInput
from usina.store import Database

SQL, HTTP = "sql", "http"

# resource: (SQL store, HTTP store), each "module:Class" under usina.
STORES: dict[str, tuple[str, str]] = {
    "tracking": ("tracking.sql:SqlTrackingStore", "tracking.http:HttpTrackingStore"),
    "registry": ("registry.sql:SqlRegistryStore", "registry.http:HttpRegistryStore"),
    "endpoints": ("serving.endpoints:SqlEndpointStore", "serving.http:HttpEndpointStore"),
    "pipelines": ("pipelines.sql:SqlPipelineStore", "pipelines.http:HttpPipelineStore"),
    "schedules": ("pipelines.sql_schedules:SqlScheduleStore", "pipelines.http:HttpScheduleStore"),
    # Through a server the audit log is read-only: the server alone appends.
    "audit": ("audit.sql:SqlAuditStore", "audit.http:HttpAuditStore"),
    "identity": ("identity.sql:SqlIdentityStore", "identity.http:HttpIdentityStore"),
    "alerts": ("monitoring.sql:SqlAlertStore", "monitoring.http:HttpAlertStore"),
    "labels": ("monitoring.labels_sql:SqlLabelStore", "monitoring.labels_http:HttpLabelStore"),
    "monitors": (
        "monitoring.monitors_sql:SqlMonitorStore",
        "monitoring.monitors_http:HttpMonitorStore",
    ),
    "batch": ("batch.sql:SqlBatchJobStore", "batch.http:HttpBatchJobStore"),
    "topics": ("topics.sql:SqlTopicStore", "topics.http:HttpTopicStore"),
    "secrets": ("secrets.sql:SqlSecretStore", "secrets.http:HttpSecretStore"),
    "datasets": ("datasets.sql:SqlDatasetStore", "datasets.http:HttpDatasetStore"),
    "policies": ("policies.sql:SqlPolicyStore", "policies.http:HttpPolicyStore"),
    "events": ("policies.sql:SqlEventStore", "policies.http:HttpEventStore"),
}

# URL scheme: which column of STORES serves it.
SCHEMES: dict[str, str] = {
    "sqlite": SQL,
    "postgresql": SQL,
    "postgres": SQL,
    "http": HTTP,
    "https": HTTP,
}


def kind_of(target: str) -> str:
    """``sql`` or ``http``: which stores serve ``target``, by its URL scheme. Anything not a
    server URL is taken for a database URL, which ``Database`` checks and explains."""
    scheme = target.partition("://")[0].partition("+")[0] if isinstance(target, str) else ""
    return SCHEMES.get(scheme, SQL)


@dataclass
class Installation:
    """What stores open on: the database and artifact store, or a server; and who acts."""

    kind: str
    artifacts: ArtifactStore
    actor: str
    heartbeat_timeout: float
    db: Database | None = None
    server: ServerConnection | None = None
    topics_url: str | None = None
    keys: KeyProvider | None = None
    _opened: dict[str, Any] = field(default_factory=dict)

    def store(self, resource: str) -> Any:
        """The store of ``resource`` on this installation, opened on first use."""
        if resource not in self._opened:
            self._opened[resource] = self._open(resource)
        return self._opened[resource]

    def _open(self, resource: str) -> Any:
        row = STORES.get(resource)
        if row is None:
            raise InvalidInput(
                f"no store for {resource!r}; the resources are {', '.join(STORES)}",
                field="resource",
            )
        module, _, name = row[0 if self.kind == SQL else 1].partition(":")
        cls = getattr(importlib.import_module(f"usina.{module}"), name)
        first = self.db if self.kind == SQL else self.server
        given = {
            "actor": self.actor,
            "artifacts": self.artifacts,
            "heartbeat_timeout": self.heartbeat_timeout,
            "topics_url": self.topics_url,
            "keys": self.keys,
        }
        kwargs: dict[str, Any] = {}
        for param in list(inspect.signature(cls).parameters.values())[1:]:
            if param.name in given:
                kwargs[param.name] = given[param.name]
            elif param.name in STORES:
                kwargs[param.name] = self.store(param.name)
        return cls(first, **kwargs)

    def close(self) -> None:
        """Close what stores opened beside the database and server (the topic log)."""
        topics = self._opened.pop("topics", None)
        if topics is not None and hasattr(topics, "close"):
            topics.close()
