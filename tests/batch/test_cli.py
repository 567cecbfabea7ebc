"""``usina batch run|jobs|schedule`` and ``usina sql``, on the database and through a server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

import server.conftest as server_fixtures
from batch.conftest import CHAMPION, Scenario, applicants, write_parquet
from resources.keys import environment_without_usina, keys_under_test

serve_app = server_fixtures.serve_app


def usina(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    command = [str(Path(sys.executable).parent / "usina"), *args]
    base = environment_without_usina()
    return subprocess.run(command, env={**base, **env}, capture_output=True, cwd=cwd, timeout=300)


def on_db(scenario: Scenario) -> dict[str, str]:
    return {"USINA_DB_URL": scenario.client.db.url, "USINA_ARTIFACTS": str(scenario.root)}


def job_args(source: Path, *more: str) -> list[str]:
    return [
        "--model",
        CHAMPION,
        "--input",
        str(source),
        "--output",
        "scores",
        "--keys",
        "id",
        *more,
    ]


def check_commands(env: dict[str, str], scenario: Scenario, tmp_path: Path) -> None:
    rows = applicants(1000)
    rows.loc[5, "income"] = float("nan")
    source = write_parquet(rows, tmp_path / "in.parquet")
    done = usina(
        env,
        "batch",
        "run",
        "nightly",
        *job_args(source, "--partition", "run_date=2026-12-01", "--on-error", "skip"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    assert "1,000 rows in, 999 scored, 1 rejected, with credit-risk v1" in out
    assert "wrote scores run_date=2026-12-01" in out

    failed = usina(
        env,
        "batch",
        "run",
        "nightly",
        *job_args(source, "--partition", "run_date=2026-12-02"),
        cwd=tmp_path,
    )
    assert failed.returncode == 2
    assert b"row 5 cannot be scored: income is null" in failed.stderr
    assert b"Traceback" not in failed.stderr
    engine = usina(
        env, "batch", "run", "nightly", *job_args(source, "--engine", "spark"), cwd=tmp_path
    )
    assert engine.returncode == 2 and b"engine must be 'local' or 'ray'" in engine.stderr

    jobs = orjson.loads(usina(env, "batch", "jobs", "--json", cwd=tmp_path).stdout)
    assert [(j["status"], j["version"], j["rows_rejected"]) for j in jobs] == [
        ("failed", 1, 0),
        ("succeeded", 1, 1),
    ]
    wide = {**env, "COLUMNS": "200"}
    assert "nightly" in usina(wide, "batch", "jobs", cwd=tmp_path).stdout.decode()

    query = "select run_date, count(*) as n from scores group by all"
    found = orjson.loads(usina(env, "sql", "--json", query, cwd=tmp_path).stdout)
    assert found == [{"run_date": "2026-12-01", "n": 999}]
    rejects = usina(wide, "sql", "select id, reason from scores_rejects", cwd=tmp_path)
    assert "income is null" in rejects.stdout.decode()
    bad = usina(env, "sql", "select * from nowhere", cwd=tmp_path)
    assert bad.returncode == 2 and b"nowhere" in bad.stderr
    export = ["batch", "export", "scores", "--partition", "run_date=2026-12-01"]
    bad = usina(env, *export, "--to", "s3://bucket/scores", cwd=tmp_path)
    assert bad.returncode == 2 and b"bigquery:PROJECT.DATASET.TABLE" in bad.stderr
    day = ["--partition", "run_date=1999-01-01", "--to", "bigquery:p-1.d.t"]
    bad = usina(env, *export[:3], *day, cwd=tmp_path)
    assert bad.returncode == 2 and b"no published files" in bad.stderr

    scheduled = usina(
        env,
        "batch",
        "schedule",
        "daily",
        "--cron",
        "0 3 * * *",
        *job_args(source, "--partition", "run_date={date}"),
        "--json",
        cwd=tmp_path,
    )
    assert scheduled.returncode == 0, scheduled.stderr.decode()
    assert orjson.loads(scheduled.stdout)["pipeline"] == "batch:daily"
    refused = usina(
        env,
        "batch",
        "schedule",
        "weekly",
        "--cron",
        "0 3 * * 1",
        *job_args(source, "--partition", "run_date={day}"),
        cwd=tmp_path,
    )
    assert refused.returncode == 2 and b"{day}" in refused.stderr


def test_the_commands_on_the_database(scenario: Scenario, tmp_path: Path) -> None:
    check_commands(on_db(scenario), scenario, tmp_path)


def test_the_commands_through_a_server(scenario: Scenario, tmp_path: Path, serve_app: Any) -> None:
    from usina.server import ServerConfig, create_app

    app = create_app(
        ServerConfig(
            db_url=scenario.client.db.url, artifacts=str(scenario.root), keys=keys_under_test()
        )
    )
    check_commands({"USINA_URL": serve_app(app)}, scenario, tmp_path)
