"""``usina.batch.run`` inside a pipeline step records its lineage on the step: the step's run read
the version (an input with its digest) and names the job (a tag); the job names the step."""

from __future__ import annotations

from pathlib import Path

import usina
import usina.batch
from batch.conftest import CHAMPION, Scenario, applicants
from usina import Dataset


@usina.step
def load_applicants(rows: int) -> Dataset:
    return applicants(rows)


@usina.step
def score(data: Dataset, workdir: str) -> str:
    import pyarrow.parquet as pq

    path = Path(workdir) / "applicants.parquet"
    pq.write_table(data.to_arrow(), path)
    done = usina.batch.run(
        "nightly", CHAMPION, str(path), "credit_scores", {"run_date": "2026-12-01"}, ["id"]
    )
    return done.id


@usina.pipeline
def nightly(workdir: str, rows: int = 200):
    score(load_applicants(rows), workdir)


def test_a_batch_job_in_a_step_records_the_version_read_and_the_job(
    scenario: Scenario, tmp_path: Path
) -> None:
    client = scenario.client
    run = nightly.run(client, workdir=str(tmp_path))
    assert run.ok, [s.error for s in run.steps]
    step = run.step("score")

    (job,) = client.batch.list()
    assert job.status.value == "succeeded" and job.rows_out == 200
    assert job.trigger == f"step:{run.id}/score"
    assert run.output("score").value == job.id

    version = client.get_version(CHAMPION)
    step_run = client.tracking.get_run(step.id)
    assert step_run.tags["batch_job/nightly"] == job.id
    inputs = {i.name: i.digest for i in step_run.inputs}
    assert inputs["models/credit-risk/1"] == version.digest
    assert len(scenario.table("credit_scores")) == 200
