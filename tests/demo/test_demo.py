"""The demo's story leaves the registry, runs and history it describes."""

from __future__ import annotations

from usina.demo.story import MODEL, run_demo
from usina.tracking import RunStatus


def test_the_demo_trains_registers_promotes_and_rolls_back(sqlite_url, client_factory) -> None:
    client = client_factory(sqlite_url)
    story = run_demo(rows=3000, seed=7, client=client)
    baseline, challenger = story.candidates
    assert (baseline.version.version, challenger.version.version) == (1, 2)
    assert story.champion is not None
    assert client.get_version(f"models:/{MODEL}@champion").version == story.champion.version.version
    actions = [h.action for h in client.alias_history(MODEL, "champion")]
    if story.champion is challenger:
        assert actions == ["set", "set", "rollback", "set"]
    runs = client.tracking.list_runs(experiment="credit-risk")
    assert {r.status for r in runs} == {RunStatus.FINISHED}
    for run in runs:
        assert [i.name for i in run.inputs] == ["credit-applications"]
        assert {"auc", "log_loss", "brier", "accuracy"} <= set(run.metrics)
        assert [a.path for a in run.artifacts] == ["evaluation.json"]
    lineage = client.lineage(f"models:/{MODEL}@champion")
    assert lineage.run is not None and lineage.run.inputs[0].digest == story.dataset_digest
