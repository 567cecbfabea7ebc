"""The demo's story leaves the registry, runs and history it describes."""

from __future__ import annotations

from usina.demo.story import MODEL, run_demo
from usina.pipelines.lineage import model_lineage


def test_the_demo_trains_through_a_pipeline_promotes_and_rolls_back(
    sqlite_url, client_factory
) -> None:
    client = client_factory(sqlite_url)
    story = run_demo(rows=3000, seed=7, client=client)
    assert story.run is not None and story.run.ok
    assert [s.node for s in story.run.steps] == [
        "load",
        "validate",
        "features",
        "train-logistic",
        "train-boosting",
    ]
    baseline, challenger = story.candidates
    assert {baseline.version.version, challenger.version.version} == {1, 2}
    assert story.champion is not None
    assert client.get_version(f"models:/{MODEL}@champion").version == story.champion.version.version
    actions = [h.action for h in client.alias_history(MODEL, "champion")]
    if story.champion is challenger:
        assert actions == ["set", "set", "rollback", "set"]
    for candidate in story.candidates:
        assert {"auc", "log_loss", "brier", "accuracy"} <= set(candidate.version.metrics)
        columns = [c.name for c in candidate.version.signature.inputs]
        assert "credit_score" in columns and "cpf" not in columns and "default" not in columns

    # The champion's lineage reaches the raw applications the pipeline loaded.
    lineage = model_lineage(client.registry, client.pipelines, f"models:/{MODEL}@champion")
    assert lineage.producer is not None
    sources = [i.digest for i in lineage.producer.sources()]
    assert story.run.output("load").digest in sources


def test_a_second_demo_reuses_the_cached_pipeline(sqlite_url, client_factory) -> None:
    client = client_factory(sqlite_url)
    run_demo(rows=2000, seed=3, client=client)
    again = run_demo(rows=2000, seed=3, client=client)
    assert again.run is not None
    assert {s.status.value for s in again.run.steps} == {"cached"}
    assert len(client.registry.list_versions(MODEL)) == 2
