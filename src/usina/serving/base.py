"""The endpoint store protocols: ``SqlEndpointStore`` on the database, ``HttpEndpointStore`` on
a server. Both pass ``usina.testing.check_endpoint_store``.

Example:
    >>> import usina
    >>> client = usina.Client("sqlite://", "memory://")
    >>> client.endpoints.list()
    []
"""

from __future__ import annotations

import builtins
from typing import Any, Protocol

from usina.serving.entities import Endpoint
from usina.serving.logquery import VersionStats


class EndpointReader(Protocol):
    """What endpoints exist, and how they answered."""

    def get(self, name: str) -> Endpoint:
        """The endpoint called ``name``; ``NotFound`` naming ``endpoint`` if there is none."""
        ...

    def list(self, limit: int | None = None, offset: int = 0) -> builtins.list[Endpoint]:
        """Endpoints by name, paged with ``limit`` and ``offset``."""
        ...

    def stats(self, name: str, since_s: float = 3600.0) -> builtins.list[VersionStats]:
        """Latency percentiles and errors per version over the last ``since_s`` seconds, as
        ``usina.serving.endpoint_stats`` computes them from the request log."""
        ...


class EndpointWriter(Protocol):
    """Changes to endpoints; each bumps the endpoint's generation, which serving workers poll."""

    def create(
        self,
        name: str,
        model_uri: str,
        *,
        sample_rate: float = 1.0,
        max_batch_size: int = 0,
        max_latency_ms: float = 5.0,
    ) -> Endpoint:
        """Create an endpoint following ``models:/m@alias``, or pinned to ``models:/m/N``."""
        ...

    def split(self, name: str, split: dict[int, int]) -> Endpoint:
        """Serve explicit versions with shares in whole percent summing to 100."""
        ...

    def follow(self, name: str, alias: str) -> Endpoint:
        """Serve whichever version ``alias`` points at."""
        ...

    def set_shadow(self, name: str, version: int | None) -> Endpoint:
        """Send a copy of every request to ``version`` (``None`` stops shadowing)."""
        ...

    def configure(
        self,
        name: str,
        *,
        sample_rate: float | None = None,
        max_batch_size: int | None = None,
        max_latency_ms: float | None = None,
    ) -> Endpoint:
        """Change the request-log sampling rate or micro-batching of an endpoint."""
        ...

    def set_log_policy(self, name: str, policy: dict[str, Any] | None) -> Endpoint:
        """Keep ``policy`` (a PII policy, docs/pii.md) on the endpoint, applied to its request
        log rows by every serving worker from its next poll; ``None`` removes it. A malformed
        policy is refused and nothing stored."""
        ...

    def delete(self, name: str) -> None:
        """Remove an endpoint."""
        ...


class EndpointStore(EndpointReader, EndpointWriter, Protocol):
    """Online endpoints: the versions behind each serving name, and their figures."""
