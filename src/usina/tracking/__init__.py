"""Tracking: experiments, runs, params, metrics (with step and time), tags, artifacts."""

from usina.tracking.base import RunLog, RunReader, TrackingStore
from usina.tracking.entities import Experiment, Metric, Run, RunArtifact, RunInput, RunStatus
from usina.tracking.http import HttpTrackingStore
from usina.tracking.run import ActiveRun
from usina.tracking.sql import SqlTrackingStore

__all__ = [
    "ActiveRun",
    "Experiment",
    "HttpTrackingStore",
    "Metric",
    "Run",
    "RunArtifact",
    "RunInput",
    "RunLog",
    "RunReader",
    "RunStatus",
    "SqlTrackingStore",
    "TrackingStore",
]
