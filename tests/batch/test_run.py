"""Batch jobs score every input kind as the model does, and publish partitions whole."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batch.conftest import CHAMPION, MODEL, Scenario, applicants, write_parquet
from resources.waiting import wait_until
from usina.batch import run
from usina.errors import InvalidInput


def expected(scenario: Scenario, version: int, rows: pd.DataFrame) -> pd.DataFrame:
    model = scenario.models[version]
    x = rows[["age", "income"]]
    out = pd.DataFrame({"id": rows["id"].to_numpy(), "prediction": model.predict(x)})
    proba = model.predict_proba(x)
    for i, label in enumerate(model.classes_):
        out[f"proba_{label}"] = proba[:, i]
    return out


def test_a_parquet_file_is_scored_as_the_model_predicts(scenario: Scenario, tmp_path: Path) -> None:
    rows = applicants(5000)
    done = run(
        "nightly",
        CHAMPION,
        str(write_parquet(rows, tmp_path / "in.parquet")),
        "credit_scores",
        partition={"run_date": "2026-12-01"},
        keys=["id"],
        client=scenario.client,
    )
    assert (done.version, done.rows_in, done.rows_out, done.rows_rejected) == (1, 5000, 5000, 0)
    table = scenario.table("credit_scores")
    want = expected(scenario, 1, rows)
    pd.testing.assert_frame_equal(table[list(want.columns)], want, check_dtype=False)
    assert set(table["model"]) == {MODEL}
    assert set(table["version"]) == {1}
    assert set(table["run_date"]) == {"2026-12-01"}
    assert all(k.startswith("tables/credit_scores/run_date=2026-12-01/part-") for k in done.files)


def test_only_the_columns_of_one_value_per_job_are_dictionary_encoded(
    scenario: Scenario, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    done = run(
        "nightly",
        CHAMPION,
        str(write_parquet(applicants(3000), tmp_path / "in.parquet")),
        "credit_scores",
        partition={"run_date": "2026-12-01"},
        keys=["id"],
        client=scenario.client,
    )
    with scenario.client.artifacts.open(done.files[0]) as data:
        group = pq.ParquetFile(data).metadata.row_group(0)
        encoded = {
            group.column(i).path_in_schema: group.column(i).has_dictionary_page
            for i in range(group.num_columns)
        }
        compressions = {group.column(i).compression for i in range(group.num_columns)}
    assert compressions == {"ZSTD"}
    assert {name for name, dictionary in encoded.items() if dictionary} == {
        "model",
        "version",
        "scored_at",
        "run_date",
    }


def test_a_csv_file_a_parquet_folder_and_a_select_give_the_same_rows(
    scenario: Scenario, tmp_path: Path
) -> None:
    rows = applicants(3000)
    csv = tmp_path / "in.csv"
    rows.to_csv(csv, index=False)
    folder = tmp_path / "folder"
    for part in range(3):
        write_parquet(rows.iloc[part * 1000 : (part + 1) * 1000], folder / f"p{part}.parquet")
    inputs = {
        "csv": str(csv),
        "dir": str(folder),
        "sql": f"select id, age, income from read_parquet('{folder}/*.parquet') where id >= 0",
    }
    want = expected(scenario, 1, rows)
    for name, source in inputs.items():
        run(name, CHAMPION, source, f"scores_{name}", keys=["id"], client=scenario.client)
        table = scenario.table(f"scores_{name}")
        pd.testing.assert_frame_equal(table[list(want.columns)], want, check_dtype=False)


def test_a_rerun_replaces_its_partition_and_keeps_the_others(
    scenario: Scenario, tmp_path: Path
) -> None:
    source = str(write_parquet(applicants(1000), tmp_path / "in.parquet"))
    fewer = str(write_parquet(applicants(10), tmp_path / "few.parquet"))
    for day in ("2026-12-01", "2026-12-02"):
        run("j", CHAMPION, source, "scores", {"run_date": day}, ["id"], client=scenario.client)
    first_files = scenario.published("scores")
    run("j", CHAMPION, fewer, "scores", {"run_date": "2026-12-02"}, ["id"], client=scenario.client)
    table = scenario.table("scores")
    assert table.groupby("run_date").size().to_dict() == {"2026-12-01": 1000, "2026-12-02": 10}
    day2 = [k for k in scenario.published("scores") if "2026-12-02" in k]
    assert not set(day2) & set(first_files)


@pytest.mark.parametrize(
    ("select", "field", "words"),
    [
        ("select id, age from t", "income", ["missing", "double"]),
        ("select id, age, 'x' || income as income from t", "income", ["string", "double"]),
        ("select id, age * 1.5 as age, income from t", "age", ["int64", "integer"]),
        ("select age, income from t", "id", ["key column"]),
    ],
)
def test_an_input_that_does_not_fit_the_signature_fails_before_scoring_and_writes_nothing(
    scenario: Scenario, tmp_path: Path, select: str, field: str, words: list[str]
) -> None:
    path = write_parquet(applicants(100), tmp_path / "t.parquet")
    scored: list[int] = []
    with pytest.raises(InvalidInput) as caught:
        run(
            "bad",
            CHAMPION,
            select.replace(" t", f" read_parquet('{path}')"),
            "scores",
            {"run_date": "2026-12-01"},
            ["id"],
            client=scenario.client,
            progress=scored.append,
        )
    assert caught.value.field == field
    assert all(w in str(caught.value) for w in words), str(caught.value)
    assert scored == []
    assert scenario.client.artifacts.list("tables") == []


def test_an_unreadable_file_fails_naming_the_input(scenario: Scenario, tmp_path: Path) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    for source in (str(broken), str(tmp_path / "absent.parquet")):
        with pytest.raises(InvalidInput) as caught:
            run("bad", CHAMPION, source, "scores", keys=["id"], client=scenario.client)
        assert caught.value.field == "input"
        assert source in str(caught.value)
    assert scenario.client.artifacts.list("tables") == []


def test_rows_that_cannot_be_scored_fail_the_job_or_go_to_the_rejects(
    scenario: Scenario, tmp_path: Path
) -> None:
    rows = applicants(200)
    rows.loc[7, "income"] = np.nan
    rows.loc[150, "income"] = np.inf
    source = str(write_parquet(rows, tmp_path / "in.parquet"))
    with pytest.raises(InvalidInput) as caught:
        run("j", CHAMPION, source, "scores", {"d": "1"}, ["id"], "fail", scenario.client)
    assert caught.value.field == "income"
    assert "row 7" in str(caught.value)
    assert scenario.client.artifacts.list("tables") == []

    done = run("j", CHAMPION, source, "scores", {"d": "1"}, ["id"], "skip", scenario.client)
    assert (done.rows_in, done.rows_out, done.rows_rejected) == (200, 198, 2)
    rejects = scenario.table("scores_rejects")
    assert rejects["id"].tolist() == [7, 150]
    assert rejects["reason"].tolist() == ["income is null", "income is NaN or infinite"]
    assert 7 not in set(scenario.table("scores")["id"])


def test_nan_and_infinity_without_nulls_are_rejected_and_the_other_rows_scored(
    scenario: Scenario, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # NaN written as a value, not as a null (pandas would turn it into a null), so the batch
    # takes the path of numeric batches without nulls.
    rows = applicants(300)
    income = rows["income"].to_numpy().copy()
    income[[3, 299]] = [np.nan, -np.inf]
    table = pa.table({"id": rows["id"].to_numpy(), "age": rows["age"].to_numpy(), "income": income})
    assert table.column("income").null_count == 0
    source = tmp_path / "in.parquet"
    pq.write_table(table, source)
    done = run("j", CHAMPION, str(source), "scores", {"d": "1"}, ["id"], "skip", scenario.client)
    assert (done.rows_in, done.rows_out, done.rows_rejected) == (300, 298, 2)
    rejects = scenario.table("scores_rejects")
    assert rejects["id"].tolist() == [3, 299]
    assert set(rejects["reason"]) == {"income is NaN or infinite"}
    kept = rows.drop(index=[3, 299]).reset_index(drop=True)
    want = expected(scenario, 1, kept)
    got = scenario.table("scores").sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got[list(want.columns)], want, check_dtype=False)


def test_every_row_carries_the_version_the_alias_held_at_the_start(
    scenario: Scenario, tmp_path: Path
) -> None:
    rows = applicants(300_000)
    source = str(write_parquet(rows, tmp_path / "in.parquet"))
    client = scenario.client
    first_batch = threading.Event()
    moved = threading.Event()

    def move_alias() -> None:
        first_batch.wait(60)
        client.set_alias(MODEL, "champion", 2, reason="promoted mid-job")
        moved.set()

    def progress(rows: int) -> None:
        if not first_batch.is_set():
            first_batch.set()
            wait_until(moved.is_set, 60, "the alias to move during the job")

    mover = threading.Thread(target=move_alias)
    mover.start()
    done = run("j", CHAMPION, source, "scores", None, ["id"], client=client, progress=progress)
    mover.join()
    assert client.get_version(CHAMPION).version == 2
    assert done.version == 1
    table = scenario.table("scores")
    assert len(table) == 300_000
    assert set(table["version"]) == {1}
    want = expected(scenario, 1, rows)
    np.testing.assert_array_equal(table["prediction"], want["prediction"])


def test_each_run_is_recorded_with_its_version_counts_and_error(
    scenario: Scenario, tmp_path: Path
) -> None:
    good = str(write_parquet(applicants(100), tmp_path / "in.parquet"))
    bad = str(write_parquet(applicants(10).drop(columns=["age"]), tmp_path / "bad.parquet"))
    done = run(
        "nightly",
        CHAMPION,
        good,
        "scores",
        {"run_date": "2026-12-01"},
        ["id"],
        client=scenario.client,
    )
    with pytest.raises(InvalidInput):
        run(
            "nightly",
            CHAMPION,
            bad,
            "scores",
            {"run_date": "2026-12-02"},
            ["id"],
            client=scenario.client,
        )
    failed, succeeded = scenario.client.batch.list(name="nightly")
    assert succeeded.id == done.id
    assert (succeeded.status, succeeded.version, succeeded.rows_in, succeeded.rows_out) == (
        "succeeded",
        1,
        100,
        100,
    )
    assert succeeded.files == done.files
    assert (failed.status, failed.rows_in) == ("failed", 0)
    assert "'age' is missing" in failed.error


def test_a_rerun_replaces_the_rejects_of_its_partition_too(
    scenario: Scenario, tmp_path: Path
) -> None:
    rows = applicants(50)
    rows.loc[3, "income"] = np.nan
    dirty = str(write_parquet(rows, tmp_path / "dirty.parquet"))
    clean = str(write_parquet(applicants(50), tmp_path / "clean.parquet"))
    for day in ("1", "2"):
        run("j", CHAMPION, dirty, "scores", {"d": day}, ["id"], "skip", scenario.client)
    run("j", CHAMPION, clean, "scores", {"d": "2"}, ["id"], "fail", scenario.client)
    assert scenario.table("scores_rejects")["d"].tolist() == ["1"]
    assert scenario.table("scores").groupby("d").size().to_dict() == {"1": 49, "2": 50}
