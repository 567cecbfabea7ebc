"""Pipelines read datasets by URI and write versions from steps; a version that fails its
dataset's expectations (a 50% volume drop) stops the pipeline, with a report naming each
failed expectation and the value observed; lineage links versions to the steps that produced
and read them."""

from __future__ import annotations

from pathlib import Path

import usina
import usina.datasets
from datasets.conftest import write_csv
from usina import Dataset
from usina.pipelines.lineage import artifact_lineage


@usina.step
def extract(source: str, rows: int) -> int:
    """Lands today's file as the next version of the applications dataset."""
    import pyarrow.csv as csv

    table = csv.read_csv(source).slice(0, rows)
    return usina.datasets.save(table, "applications").version


@usina.step
def summarise(applications: Dataset, after: int) -> dict:
    frame = applications.to_pandas()
    return {"rows": len(frame), "mean_age": float(frame["age"].mean())}


@usina.pipeline
def daily(source: str, rows: int = 1000):
    landed = extract(source, rows)
    summarise("datasets:/applications@latest", landed)


def test_a_volume_drop_stops_the_pipeline_naming_the_expectation(client, tmp_path: Path) -> None:
    source = str(write_csv(tmp_path / "applications.csv", 1000))
    usina.datasets.expect(
        "applications",
        {"kind": "volume", "max_drop": 0.3},
        {"kind": "nulls", "column": "age", "max_rate": 0},
        client=client,
    )
    first = daily.run(client, source=source)
    assert first.ok, [s.error for s in first.steps]
    assert first.output("summarise").value == {"rows": 1000, "mean_age": 47.1}
    v1 = client.datasets.get_version("applications", 1)
    assert v1.run_id == first.step("extract").id, "the producing step's run is recorded"

    # The next day's file has half the rows: the step saving it fails, nothing downstream runs.
    second = daily.run(client, source=source, rows=500)
    assert not second.ok
    extract_run = second.step("extract")
    assert extract_run.status.value == "failed"
    assert "volume: expected a drop under 30%, observed -50.0% (1,000 -> 500 rows)" in (
        extract_run.error or ""
    )
    assert second.step("summarise").status.value == "skipped"
    assert client.datasets.get("applications").latest == 1, "nothing was registered"


@usina.step
def count(data: Dataset) -> int:
    return len(data.to_pandas())


@usina.pipeline
def reader(data: str = "datasets:/applications@latest"):
    count(data)


def test_a_step_reading_a_failing_version_fails_with_the_report(client, tmp_path: Path) -> None:
    usina.datasets.ingest(str(write_csv(tmp_path / "a.csv", 100)), "applications", client=client)
    ok = reader.run(client)
    assert ok.ok and ok.output("count").value == 100

    # Pinned to version 1, and rerun after an expectation it breaks is declared.
    usina.datasets.expect(
        "applications",
        {"kind": "categories", "column": "plan", "allowed": ["a", "b"]},
        client=client,
    )
    failed = reader.run(client, data="datasets:/applications/1", cache=False)
    assert not failed.ok
    error = failed.step("count").error or ""
    assert "categories plan: expected only ['a', 'b'], observed 33 row(s) outside (c)" in error


def test_lineage_links_a_version_to_its_producer_and_readers(client, tmp_path: Path) -> None:
    source = str(write_csv(tmp_path / "applications.csv", 200))
    run = daily.run(client, source=source, rows=200)
    assert run.ok, [s.error for s in run.steps]
    version = client.datasets.get_version("applications")
    links = artifact_lineage(client.pipelines, version.digest)
    assert [s.node for s in links.readers] == ["summarise"]
    assert version.run_id == run.step("extract").id
    # A rerun reads the same version from the cache: no second version, the same digest.
    again = daily.run(client, source=source, rows=200)
    assert {s.status.value for s in again.steps} == {"cached"}
    assert client.datasets.get("applications").latest == 1
