"""The demo's story leaves the registry, runs and history it describes."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from resources.servers import ThreadServer
from usina.artifacts import read_bytes
from usina.batch.query import query_tables
from usina.client import Client
from usina.demo.story import DAILY, MODEL, run_demo
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
        "pseudonymize",
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

    # The monitoring chapter: older applicants with larger loans drift, the alert e-mail
    # reaches the demo's mailbox, and the report is written.
    run = story.monitor_run
    assert run is not None and run.status == "breached", run
    drifted = {b["name"] for b in run.breaches if b["kind"] == "drift"}
    assert {"age", "loan_amount"} <= drifted, drifted
    assert not drifted & {"credit_score", "income", "state"}, "unshifted columns stay quiet"
    assert story.alert is not None and story.alert["To"] == "ml-team@example.com"
    assert "FIRING credit-watch" in story.alert["Subject"]
    assert story.report is not None and "<svg" in story.report.read_text()
    firing = {a.check for a in client.alerts.list(monitor="credit-watch", state="firing")}
    assert {"drift:age", "drift:loan_amount"} <= firing

    # The batch chapter: a day of applications scored with the champion into credit_scores,
    # recorded as a job and queryable with usina sql.
    job = story.batch
    assert (
        job is not None and job.rows_out == DAILY and job.version == story.champion.version.version
    )
    (recorded,) = client.batch.list(name="credit-daily")
    assert (recorded.status, recorded.rows_out) == ("succeeded", DAILY)
    scored = query_tables(
        client.artifacts,
        "select version, count(distinct application_id) as n from credit_scores group by all",
    ).to_pylist()
    assert scored == [{"version": job.version, "n": DAILY}]

    # CPF and e-mail are keyed tokens from the pseudonymize step on; the key file is the owner's.
    private = pq.read_table(
        pa.BufferReader(read_bytes(client.artifacts, story.run.output("pseudonymize").digest))
    )
    assert all(v.startswith("tok:") for v in private.column("cpf").to_pylist())
    assert all(v.startswith("tok:") for v in private.column("email").to_pylist())
    assert story.pii_key_file.stat().st_mode & 0o077 == 0

    # The data chapter: the events land in a dataset version, a halved load is stopped by the
    # volume check with nothing registered, and the retraining read the version.
    assert story.dataset is not None and story.dataset.rows == 3000
    (failed,) = story.stopped.failures
    assert (failed.kind, story.stopped.version) == ("volume", 2), story.stopped.summary()
    assert [v.version for v in client.datasets.versions("applications")] == [1]
    assert story.retraining is not None and story.retraining.ok
    assert story.retraining.step("validate").status.value == "done"

    # The loop chapter: the policy retrains, gates, canaries and promotes; a regression is
    # rolled back; a bad candidate is refused by the gate; each decision once, in order.
    assert [e.kind for e in story.loop_events] == [
        "retrain_started",
        "gate_passed",
        "canary_started",
        "promoted",
        "rolled_back",
        "retrain_started",
        "gate_failed",
    ]
    assert client.get_version("models:/credit-loop@champion").version == 1
    assert client.endpoints.get("credit-loop").alias == "champion"

    # The champion's lineage reaches the raw applications the pipeline loaded.
    lineage = model_lineage(client.registry, client.pipelines, f"models:/{MODEL}@champion")
    assert lineage.producer is not None
    sources = [i.digest for i in lineage.producer.sources()]
    assert story.run.output("load").digest in sources

    # A second demo on the same installation reuses the cached pipeline: nothing is trained or
    # registered again.
    versions = len(client.registry.list_versions(MODEL))
    again = run_demo(rows=3000, seed=7, client=client, loop=False)
    assert again.run is not None
    assert {s.status.value for s in again.run.steps} == {"cached"}
    assert again.retraining is not None
    assert {s.status.value for s in again.retraining.steps} == {"cached"}
    # The two candidates and the retraining on the events' dataset, each registered once.
    assert len(client.registry.list_versions(MODEL)) == versions == 3


def test_the_demo_runs_through_a_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``USINA_URL`` set the demo records everything through the REST API."""
    from usina.server import ServerConfig, create_app

    # Through a server there is no local folder for the monitor's report: it goes in the
    # working directory.
    monkeypatch.chdir(tmp_path)

    from usina.serving import ServingConfig

    # The closed loop labels its requests once they are in the request log: a short file
    # interval keeps each of its waits short (the server's default is 5 s).
    config = ServerConfig(
        db_url=f"sqlite:///{tmp_path / 'usina.db'}",
        artifacts=str(tmp_path / "artifacts"),
        serving=ServingConfig(log_file_interval=0.5),
    )
    with ThreadServer(create_app(config)) as url:
        client = Client(url)
        story = run_demo(rows=2000, seed=7, client=client)
        assert story.run is not None and story.run.ok
        assert story.champion is not None
        champion = client.get_version(f"models:/{MODEL}@champion")
        assert champion.version == story.champion.version.version
        assert client.pipelines.get_run(story.run.id).status == story.run.status
        # The monitor ran on the server; the report was written here from its history.
        assert story.monitor_run is not None and story.monitor_run.status == "breached"
        assert story.report == tmp_path / "monitor-report.html" and story.report.exists()
        client.close()


def test_demo_traffic_through_a_server_is_answered_by_its_inference_routes(
    tmp_path: Path,
) -> None:
    """The serving chapter's traffic, with a server client: the server's own predict routes
    answer it, follow the alias when it rolls back, and count it on their /metrics."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from usina.demo.traffic import roll_back_under_traffic
    from usina.server import ServerConfig, create_app
    from usina.serving import ServingConfig

    config = ServerConfig(
        db_url=f"sqlite:///{tmp_path / 'usina.db'}",
        artifacts=str(tmp_path / "artifacts"),
        serving=ServingConfig(poll_interval=0.1, log_flush_interval=0.2, log_file_interval=0.2),
    )
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (x["a"] > 0).astype(int)
    with ThreadServer(create_app(config)) as url:
        client = Client(url)
        for c in (0.1, 1.0):
            client.register_model(LogisticRegression(C=c).fit(x, y), "m", input_example=x)
        client.set_alias("m", "champion", 1)
        client.set_alias("m", "champion", 2)
        report = roll_back_under_traffic(
            client, "m", x.head(20).to_dict(orient="records"), requests=400, threads=2
        )
        assert report.failed == 0
        assert (report.rollback.from_version, report.rollback.to_version) == (2, 1)
        assert set(report.answers_by_version) <= {1, 2}
        assert sum(report.answers_by_version.values()) == 400
        assert report.answers_by_version.get(1, 0) > 0  # the rollback reached the server
        text = httpx.get(f"{url}/metrics").text
        counted = re.findall(
            r'^usina_requests_total\{endpoint="credit",protocol="vertex",status="200",'
            r'version="\d+"\} (\S+)',
            text,
            re.M,
        )
        assert sum(float(n) for n in counted) == 400
        client.close()
