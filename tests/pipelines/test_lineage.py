"""A registered model's lineage reaches the datasets its pipeline started from."""

from __future__ import annotations

from resources import pipelines as p
from usina.pipelines.lineage import artifact_lineage, model_lineage


def test_the_lineage_of_a_registered_model_reaches_its_input_datasets(client, workdir) -> None:
    run = p.training.run(client, workdir=workdir, C=0.5)
    assert run.ok, [s.error for s in run.steps]
    version = client.get_version("models:/credit-risk/1")
    assert version.run_id == run.step("train").id
    assert 0.0 <= version.metrics["accuracy"] <= 1.0

    lineage = model_lineage(client.registry, client.pipelines, "models:/credit-risk/1")
    train = lineage.producer
    assert train is not None and train.step.node == "train" and train.pipeline == "training"
    [features] = train.inputs
    assert features.kind == "dataset" and features.digest == run.output("features").digest
    assert features.produced_by is not None and features.produced_by.step.node == "features"
    [raw] = features.produced_by.inputs
    assert raw.digest == run.output("load").digest and raw.rows == 40
    assert raw.produced_by is not None and raw.produced_by.step.node == "load"
    assert [d.digest for d in train.sources()] == [run.output("load").digest]

    # And each artifact knows who produced it and who read it.
    links = artifact_lineage(client.pipelines, run.output("features").digest)
    assert [s.node for s in links.producers] == ["features"]
    assert sorted(s.node for s in links.readers) == ["evaluate", "train"]


def test_lineage_survives_a_cached_rerun(sqlite_url, client_factory, workdir) -> None:
    client = client_factory(sqlite_url)
    first = p.training.run(client, workdir=workdir)
    second = p.training.run(client, workdir=workdir)
    assert {s.status.value for s in second.steps} == {"cached"}
    # No new version: registration happens when the training step executes.
    assert [v.version for v in client.registry.list_versions("credit-risk")] == [1]
    lineage = model_lineage(client.registry, client.pipelines, "models:/credit-risk/1")
    assert lineage.producer is not None and lineage.producer.step.id == first.step("train").id
