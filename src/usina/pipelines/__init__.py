"""Pipelines: typed steps in a checked graph, run locally with caching and lineage, or compiled
to Kubeflow Pipelines v2 YAML (which Vertex AI Pipelines also runs). What a run records goes
through the ``PipelineStore`` and ``ScheduleStore`` protocols (``base.py``): SQL stores on the
metadata database, HTTP stores through a usina server."""

from usina.pipelines.base import (
    Backend,
    PipelineRunLog,
    PipelineRunReader,
    PipelineStore,
    ScheduleLease,
    SchedulerStore,
    ScheduleStore,
)
from usina.pipelines.dsl import Handle, Pipeline, Step, pipeline, step
from usina.pipelines.entities import (
    ArtifactLink,
    ArtifactUse,
    Fire,
    PipelineRun,
    PipelineStatus,
    Schedule,
    StepRun,
    StepStatus,
)
from usina.pipelines.graph import Graph, Param, PipelineDefinitionError, Ref
from usina.pipelines.runner import LocalRunner
from usina.pipelines.sql import SqlPipelineStore
from usina.pipelines.sql_steps import SqlStep, sql_step
from usina.pipelines.types import Artifact, Dataset, Metrics, Model

__all__ = [
    "Artifact",
    "ArtifactLink",
    "ArtifactUse",
    "Backend",
    "Dataset",
    "Fire",
    "Graph",
    "Handle",
    "LocalRunner",
    "Metrics",
    "Model",
    "Param",
    "Pipeline",
    "PipelineDefinitionError",
    "PipelineRun",
    "PipelineRunLog",
    "PipelineRunReader",
    "PipelineStatus",
    "PipelineStore",
    "Ref",
    "Schedule",
    "ScheduleLease",
    "ScheduleStore",
    "SchedulerStore",
    "SqlPipelineStore",
    "SqlStep",
    "Step",
    "StepRun",
    "StepStatus",
    "pipeline",
    "sql_step",
    "step",
]
