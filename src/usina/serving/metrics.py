"""Prometheus metrics per endpoint and version: requests, errors, latency, load failures, and
the request log's rows (logged, written, dropped by reason).

Each app owns its registry, so several apps in one process (tests, the server) do not collide.
With several workers, ``usina serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before they start and
``/metrics`` aggregates every worker's files (prometheus-client's multiprocess mode). Label
children are cached per (endpoint, version, ...) so a request pays two dictionary lookups.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as mp

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServingMetrics:
    """The serving metrics of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "usina_requests",
            "Prediction requests by endpoint, version, protocol and HTTP status.",
            ["endpoint", "version", "protocol", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "usina_request_latency_seconds",
            "Time from request received to response ready, by endpoint and version.",
            ["endpoint", "version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.load_failures = Counter(
            "usina_version_load_failures",
            "Versions that failed to load or warm and were kept out of traffic.",
            ["endpoint", "version"],
            registry=self.registry,
        )
        self.log_logged = Counter(
            "usina_request_log_rows_logged",
            "Rows the request log took (sampled requests and shadow answers), by endpoint.",
            ["endpoint"],
            registry=self.registry,
        )
        self.log_written = Counter(
            "usina_request_log_rows_written",
            "Request log rows stored durably (their Parquet file is in the store), by endpoint.",
            ["endpoint"],
            registry=self.registry,
        )
        self.log_dropped = Counter(
            "usina_request_log_rows_dropped",
            "Request log rows dropped, by endpoint and reason (queue_full, store_error, "
            "writer_crash).",
            ["endpoint", "reason"],
            registry=self.registry,
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def observe(
        self, endpoint: str, version: str, protocol: str, status: int, seconds: float
    ) -> None:
        """Count one request and record its latency."""
        key = (endpoint, version, protocol, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(endpoint, version, protocol, str(status)),
                self.latency.labels(endpoint, version),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def load_failed(self, endpoint: str, version: int, message: str) -> None:
        self.load_failures.labels(endpoint, str(version)).inc()

    def exposition(self) -> bytes:
        """The text exposition format, across workers in multiprocess mode."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry)
            return bytes(generate_latest(registry))
        return bytes(generate_latest(self.registry))
