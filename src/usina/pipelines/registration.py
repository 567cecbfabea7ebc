"""Registering the model a step returned (``@usina.step(register="name")``) as a version,
with the step's run, metrics and a signature typed from the dataset it was trained on."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from usina.artifacts import ArtifactStore, blob_key
from usina.pipelines.types import DATASET, METRICS, MODEL, Artifact

if TYPE_CHECKING:
    from usina.registry import ModelVersion, RegistryStore, Signature


def register_step_model(
    registry: RegistryStore,
    artifacts: ArtifactStore,
    name: str,
    *,
    run_id: str,
    inputs: dict[str, Artifact],
    outputs: dict[str, Artifact],
    description: str,
) -> ModelVersion:
    """Register the model among ``outputs`` as the next version of ``name``."""
    from usina.registry import Signature

    model = next(a for a in outputs.values() if a.kind == MODEL)
    metrics = {
        k: float(v) for a in outputs.values() if a.kind == METRICS for k, v in a.value.items()
    }
    return registry.create_version(
        name,
        digest=model.digest,
        size=model.size,
        format=model.format or "",
        model_class=model.model_class or "",
        signature=signature_from_inputs(artifacts, model, inputs) or Signature(),
        metrics=metrics,
        run_id=run_id,
        description=description,
    )


def signature_from_inputs(
    artifacts: ArtifactStore, model: Artifact, inputs: dict[str, Artifact]
) -> Signature | None:
    """The model's input columns, typed from the first input dataset that has them all."""
    from usina.registry import Column, Signature
    from usina.registry.signature import type_name

    if not model.features:
        return None
    for artifact in inputs.values():
        if artifact.kind != DATASET:
            continue
        import pyarrow.parquet as pq

        with artifacts.open(blob_key(artifact.digest)) as f:
            # Parquet keeps its schema in the footer: a seekable file reads only that; a
            # stream (an HTTP download) is read whole.
            schema = pq.read_schema(f if f.seekable() else io.BytesIO(f.read()))
        types: dict[str, Any] = {field.name: field.type for field in schema}
        if all(name in types for name in model.features):
            return Signature(tuple(Column(n, type_name(types[n])) for n in model.features))
    return None
