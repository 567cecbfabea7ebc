"""Prometheus metrics per endpoint and version: requests, errors, latency, load failures, and
the request log's rows (logged, written, dropped by reason).

Each app owns its registry, so several apps in one process (tests, the server) do not collide.
With several workers, ``usina serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before they start and
``/metrics`` aggregates every worker's files (prometheus-client's multiprocess mode).

A request does not touch prometheus-client (three locked updates and a bucket search, a few
microseconds): :meth:`ServingMetrics.observe` adds it to a pending tally per (endpoint,
version, protocol, status) under one lock, and :meth:`ServingMetrics.flush` moves the tallies
into the Prometheus metrics, once per label set. A flush happens on every collection of the
registry (so a scrape of this process is exact) and, from the serving poller, every poll
interval: with several workers, a scrape shows another worker's requests at most one poll
interval (0.5 s by default) late.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as mp
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServingMetrics:
    """The serving metrics of one app."""

    def __init__(self) -> None:
        self._bounds = (*LATENCY_BUCKETS, float("inf"))
        # (endpoint, version, protocol, status) -> [requests, seconds, requests per bucket]
        self._pending: dict[tuple[Any, ...], list[Any]] = {}
        self._lock = threading.Lock()
        self.registry = CollectorRegistry(auto_describe=True)
        # Registered first, so every collection flushes the pending tallies before reading.
        self.registry.register(_FlushFirst(self))
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
        """Count one request and record its latency (in the pending tally)."""
        key = (endpoint, version, protocol, status)
        bucket = bisect.bisect_left(self._bounds, seconds)
        with self._lock:
            tally = self._pending.get(key)
            if tally is None:
                tally = self._pending[key] = [0, 0.0, [0] * len(self._bounds)]
            tally[0] += 1
            tally[1] += seconds
            tally[2][bucket] += 1

    def flush(self) -> None:
        """Move the pending tallies into the Prometheus metrics."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for key, (count, seconds, buckets) in pending.items():
            children = self._children.get(key)
            if children is None:
                endpoint, version, protocol, status = key
                children = (
                    self.requests.labels(endpoint, version, protocol, str(status)),
                    self.latency.labels(endpoint, version),
                )
                self._children[key] = children
            children[0].inc(count)
            histogram = children[1]
            # prometheus-client has no public call to add n observations to a bucket; its
            # histogram keeps one value per bucket (not cumulative) and the sum, which
            # observe() itself updates the same way. tests/serving/test_operations.py reads
            # the exposition back, so a change of these internals fails there.
            histogram._sum.inc(seconds)
            for i, n in enumerate(buckets):
                if n:
                    histogram._buckets[i].inc(n)

    def load_failed(self, endpoint: str, version: int, message: str) -> None:
        self.load_failures.labels(endpoint, str(version)).inc()

    def exposition(self) -> bytes:
        """The text exposition format, across workers in multiprocess mode."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            self.flush()
            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry)
            return bytes(generate_latest(registry))
        return bytes(generate_latest(self.registry))


class _FlushFirst(Collector):
    """Flushes the pending tallies when the registry is collected; yields no metric itself."""

    def __init__(self, metrics: ServingMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        self.metrics.flush()
        return ()
