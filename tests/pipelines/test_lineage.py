"""A registered model's lineage reaches the datasets its pipeline started from."""

from __future__ import annotations

import usina
from resources import pipelines as p
from usina import Dataset
from usina.pipelines.lineage import artifact_lineage, model_lineage


@usina.step
def fit_and_register(data: Dataset) -> int:
    """Registers its model itself, as a notebook turned step would, instead of returning it."""
    from sklearn.linear_model import LogisticRegression

    frame = data.to_pandas()
    model = LogisticRegression().fit(frame[["x"]], frame["y"])
    return usina.register_model(model, "registered-in-step", input_example=frame[["x"]][:3]).version


@usina.pipeline
def registering(workdir: str):
    fit_and_register(p.load(workdir))


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


def test_register_model_inside_a_step_records_the_steps_run_and_lineage(client, workdir) -> None:
    run = registering.run(client, workdir=workdir)
    assert run.ok, [s.error for s in run.steps]
    step = run.step("fit-and-register")
    version = client.get_version("models:/registered-in-step/1")
    assert version.run_id == step.id, "the version names the step's run"
    assert [c.name for c in version.signature.inputs] == ["x"]

    lineage = model_lineage(client.registry, client.pipelines, "models:/registered-in-step/1")
    assert lineage.producer is not None and lineage.producer.step.id == step.id
    assert lineage.producer.pipeline == "registering"
    [data] = lineage.producer.inputs
    assert data.digest == run.output("load").digest and data.rows == 40
    assert data.produced_by is not None and data.produced_by.step.node == "load"
    # The client's lineage sees the step's tracking run too.
    assert client.lineage("models:/registered-in-step/1").run.id == step.id  # type: ignore[union-attr]


def test_register_model_outside_a_step_records_no_run(client) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    version = client.register_model(model, "outside")
    assert version.run_id is None
    assert model_lineage(client.registry, client.pipelines, "models:/outside/1").producer is None
