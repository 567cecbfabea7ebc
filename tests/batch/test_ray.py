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
    sources = {
        "dir": str(folder),
        "sql": f"select * from read_parquet('{folder}/*.parquet') where id % 2 = 0",
    }
    day = {"run_date": "2026-12-01"}
    for name, source in sources.items():
        done = {}
        for engine in ("local", "ray"):
            done[engine] = run(
                f"{name}-{engine}",
                CHAMPION,
                source,
                f"{name}_{engine}",
                day,
                ["id"],
                on_error="skip",
                client=scenario.client,
                engine=engine,
            )
        local, on_ray = done["local"], done["ray"]
        assert (on_ray.rows_in, on_ray.rows_out, on_ray.rows_rejected) == (
            local.rows_in,
            local.rows_out,
            local.rows_rejected,
        )
        table = same_table(scenario, f"{name}_local", f"{name}_ray")
        assert {"prediction", "proba_0", "proba_1", "model", "version", "run_date"} <= set(table)
        rejects = same_table(scenario, f"{name}_local_rejects", f"{name}_ray_rejects")
        assert set(rejects["reason"]) == {"income is null", "income is NaN or infinite"}
        assert scenario.client.batch.get(on_ray.id).status is JobStatus.SUCCEEDED
    assert len(scenario.table("dir_ray")) == 2997
    assert len(scenario.table("dir_ray_rejects")) == 3

    # on_error="fail": the same first bad row is named, nothing is written, the job failed.
    with pytest.raises(InvalidInput, match="row 3 cannot be scored: income is null") as failed:
        run(
            "fail-ray",
            CHAMPION,
            str(folder),
            "fail_ray",
            day,
            ["id"],
            client=scenario.client,
            engine="ray",
        )
    assert failed.value.field == "income"
    assert scenario.published("fail_ray") == []
    (job,) = scenario.client.batch.list(name="fail-ray")
    assert job.status is JobStatus.FAILED


def test_an_unknown_engine_is_refused_naming_the_field(scenario: Scenario) -> None:
    with pytest.raises(InvalidInput, match="engine must be 'local' or 'ray'") as refused:
        run("x", CHAMPION, "in.parquet", "scores", client=scenario.client, engine="spark")
    assert refused.value.field == "engine"
    assert scenario.client.batch.list() == []
