"""The Ray engine writes the same table as the local engine: the same rows, columns and values
(every column but ``scored_at``), the same rejects, and the same refusal of a bad row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batch.conftest import CHAMPION, Scenario, applicants, write_parquet
from usina.batch import run
from usina.batch.entities import JobStatus
from usina.errors import InvalidInput

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
# Ray Data warns about its own deprecated settings whenever it copies its context (Ray 2.60),
# whatever the caller set; these are not usina's.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray of two CPUs for the module; the engine joins it rather than start one."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def same_table(scenario: Scenario, local: str, on_ray: str) -> pd.DataFrame:
    """Assert both tables hold the same rows; return one."""
    a = scenario.table(local).drop(columns="scored_at")
    b = scenario.table(on_ray).drop(columns="scored_at")
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a, b)
    return a


def with_bad_rows(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.copy()
    rows.loc[[3, 700, 2500], "income"] = [np.nan, np.inf, np.nan]
    return rows


def test_both_engines_write_the_same_scores_and_rejects(
    local_ray: None, scenario: Scenario, tmp_path: Path
) -> None:
    rows = with_bad_rows(applicants(3000))
    folder = tmp_path / "folder"
    for part in range(3):
        write_parquet(rows.iloc[part * 1000 : (part + 1) * 1000], folder / f"p{part}.parquet")
    day = {"run_date": "2026-12-01"}
    done = {}
    for engine in ("local", "ray"):
        done[engine] = run(
            f"skip-{engine}",
            CHAMPION,
            str(folder),
            f"scores_{engine}",
            day,
            ["id"],
            on_error="skip",
            client=scenario.client,
            engine=engine,
        )
    local, on_ray = done["local"], done["ray"]
    assert (local.engine, on_ray.engine) == ("local", "ray")
    counts = (on_ray.rows_in, on_ray.rows_out, on_ray.rows_rejected)
    assert counts == (local.rows_in, local.rows_out, local.rows_rejected) == (3000, 2997, 3)
    table = same_table(scenario, "scores_local", "scores_ray")
    assert {"prediction", "proba_0", "proba_1", "model", "version", "run_date"} <= set(table)
    rejects = same_table(scenario, "scores_local_rejects", "scores_ray_rejects")
    assert set(rejects["reason"]) == {"income is null", "income is NaN or infinite"}
    assert scenario.client.batch.get(on_ray.id).status is JobStatus.SUCCEEDED


def test_a_row_that_cannot_be_scored_fails_both_engines_alike(
    local_ray: None, scenario: Scenario, tmp_path: Path
) -> None:
    """on_error="fail", on a select (read by DuckDB on the driver, then put in Ray's object
    store): the same first bad row is named, nothing is written, the job is failed."""
    rows = with_bad_rows(applicants(3000))
    folder = tmp_path / "folder"
    for part in range(3):
        write_parquet(rows.iloc[part * 1000 : (part + 1) * 1000], folder / f"p{part}.parquet")
    query = f"select * from read_parquet('{folder}/*.parquet') where id % 2 = 0 order by id"
    errors = {}
    for engine in ("local", "ray"):
        with pytest.raises(InvalidInput) as failed:
            run(
                f"fail-{engine}",
                CHAMPION,
                query,
                "fail",
                {"run_date": "2026-12-01"},
                ["id"],
                client=scenario.client,
                engine=engine,
            )
        errors[engine] = (str(failed.value), failed.value.field)
        assert scenario.published("fail") == []
        (job,) = scenario.client.batch.list(name=f"fail-{engine}")
        assert job.status is JobStatus.FAILED
    # Row 350 of the query is id 700, the first bad row with an even id.
    assert errors["ray"] == errors["local"]
    assert errors["ray"][0].startswith("row 350 cannot be scored: income is NaN or infinite")
    assert errors["ray"][1] == "income"


def test_an_unknown_engine_is_refused_naming_the_field(scenario: Scenario) -> None:
    with pytest.raises(InvalidInput, match="engine must be 'local' or 'ray'") as refused:
        run("x", CHAMPION, "in.parquet", "scores", client=scenario.client, engine="spark")
    assert refused.value.field == "engine"
    assert scenario.client.batch.list() == []
