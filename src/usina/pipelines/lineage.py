"""Lineage: from a model version (or any artifact) back through the steps to the input datasets.

Every executed step records the digests it read and wrote (``artifact_links``), so the graph
can be walked backwards from any artifact: who produced it, from which inputs, who produced
those, down to the datasets the pipeline started from. Readers are found the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from usina.pipelines.store import PipelineStore, StepRun
from usina.pipelines.types import DATASET
from usina.registry import ModelVersion, SqlRegistryStore, parse_model_uri
from usina.store import Database


@dataclass(frozen=True)
class InputLineage:
    """One input a step read, and the step run that produced it (``None`` for outside data)."""

    name: str
    kind: str
    digest: str
    rows: int | None
    produced_by: StepLineage | None


@dataclass(frozen=True)
class StepLineage:
    """A step execution and, recursively, where its inputs came from."""

    step: StepRun
    pipeline: str
    inputs: tuple[InputLineage, ...]

    def datasets(self) -> list[InputLineage]:
        """Every dataset upstream of this step, nearest first, each once."""
        # Keyed by digest and producer: a step that passes its input through (a validation
        # gate) outputs the same digest, and the chain must still reach the original producer.
        seen: dict[tuple[str, str | None], InputLineage] = {}
        pending = [self]
        while pending:
            node = pending.pop(0)
            for i in node.inputs:
                key = (i.digest, i.produced_by.step.id if i.produced_by else None)
                if i.kind == DATASET and key not in seen:
                    seen[key] = i
                if i.produced_by is not None:
                    pending.append(i.produced_by)
        return list(seen.values())

    def sources(self) -> list[InputLineage]:
        """The datasets the chain starts from: read by a step whose own inputs hold no dataset."""
        result: dict[str, InputLineage] = {}
        for i in self.datasets():
            producer = i.produced_by
            if producer is None or not any(x.kind == DATASET for x in producer.inputs):
                result[i.digest] = i
        return list(result.values())


@dataclass(frozen=True)
class ModelLineage:
    """A model version and the step execution that produced it (``None`` outside pipelines)."""

    version: ModelVersion
    producer: StepLineage | None


@dataclass(frozen=True)
class ArtifactLineage:
    """Who produced an artifact and who read it."""

    digest: str
    producers: tuple[StepRun, ...]
    readers: tuple[StepRun, ...]


def trace_step(
    store: PipelineStore, step_run_id: str, _seen: dict[str, StepLineage | None] | None = None
) -> StepLineage | None:
    """The lineage of a step execution; ``None`` when it is not a pipeline step."""
    seen: dict[str, StepLineage | None] = {} if _seen is None else _seen
    if step_run_id in seen:
        return seen[step_run_id]
    seen[step_run_id] = None  # being traced: a step passing an input through must not loop
    step = store.get_step(step_run_id)
    if step is None:
        return None
    if step.cached_from:
        result = trace_step(store, step.cached_from, seen)
        seen[step_run_id] = result
        return result
    pipeline = store.get_run(step.pipeline_run_id).pipeline if step.pipeline_run_id else ""
    inputs = []
    for link in sorted(store.links(step.id, "input"), key=lambda r: r.name):
        candidates = [c for c in store.producers(link.digest) if c not in seen]
        # Prefer the producer from the same pipeline run, then the newest.
        candidates.sort(key=lambda c: _run_of(store, c) != step.pipeline_run_id)
        producer = trace_step(store, candidates[0], seen) if candidates else None
        inputs.append(InputLineage(link.name, link.kind, link.digest, link.rows, producer))
    result = StepLineage(step, pipeline, tuple(inputs))
    seen[step_run_id] = result
    return result


def _run_of(store: PipelineStore, step_run_id: str) -> str | None:
    step = store.get_step(step_run_id)
    return step.pipeline_run_id if step else None


def model_lineage(db: Database, uri: str, actor: str = "local") -> ModelLineage:
    """The version ``uri`` names and the steps that led to it."""
    version = SqlRegistryStore(db, actor, artifacts=None).resolve(parse_model_uri(uri))
    producer = trace_step(PipelineStore(db, actor), version.run_id) if version.run_id else None
    return ModelLineage(version, producer)


def artifact_lineage(db: Database, digest: str) -> ArtifactLineage:
    """The step runs that produced and read the artifact ``digest``."""
    store = PipelineStore(db)
    producers = tuple(s for s in (store.get_step(i) for i in store.producers(digest)) if s)
    readers = tuple(s for s in (store.get_step(i) for i in store.readers(digest)) if s)
    return ArtifactLineage(digest, producers, readers)
