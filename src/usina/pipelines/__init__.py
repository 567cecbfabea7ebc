"""Pipelines: typed steps in a checked graph, run locally with caching and lineage, or compiled
to Kubeflow Pipelines v2 YAML (which Vertex AI Pipelines also runs)."""

from usina.pipelines.dsl import Handle, Pipeline, Step, pipeline, step
from usina.pipelines.graph import Graph, Param, PipelineDefinitionError, Ref
from usina.pipelines.runner import LocalRunner
from usina.pipelines.sql import SqlStep, sql_step
from usina.pipelines.store import PipelineRun, PipelineStatus, PipelineStore, StepRun, StepStatus
from usina.pipelines.types import Artifact, Dataset, Metrics, Model

__all__ = [
    "Artifact",
    "Dataset",
    "Graph",
    "Handle",
    "LocalRunner",
    "Metrics",
    "Model",
    "Param",
    "Pipeline",
    "PipelineDefinitionError",
    "PipelineRun",
    "PipelineStatus",
    "PipelineStore",
    "Ref",
    "SqlStep",
    "Step",
    "StepRun",
    "StepStatus",
    "pipeline",
    "sql_step",
    "step",
]
