"""``usina batch run|jobs|schedule`` and ``usina sql``, on the database and through a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

import server.conftest as server_fixtures
from batch.conftest import CHAMPION, Scenario, applicants, write_parquet
from resources.cli_session import CliSession
from resources.keys import environment_without_usina, keys_under_test

serve_app = server_fixtures.serve_app


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
    """The commands with ``env``, run in turn by one process (``CliSession``: the ``usina``
    entry point called once per command, as a fresh process would run it, without paying a
    Python start and the imports for each); the two that print tables run in a second one,
    with a wider terminal."""
    rows = applicants(1000)
    rows.loc[5, "income"] = float("nan")
    source = write_parquet(rows, tmp_path / "in.parquet")
    env = {**environment_without_usina(), **env}
    with (
        CliSession(env, tmp_path, timeout=300) as session,
        CliSession({**env, "COLUMNS": "200"}, tmp_path, timeout=300) as wide,
    ):
        _check_commands(session, wide, source)


def _check_commands(session: CliSession, wide: CliSession, source: Path) -> None:
    usina = session.run
    done = usina(
        "batch",
        "run",
        "nightly",
        *job_args(source, "--partition", "run_date=2026-12-01", "--on-error", "skip"),
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "1,000 rows in, 999 scored, 1 rejected, with credit-risk v1" in out
    assert "wrote scores run_date=2026-12-01" in out

    failed = usina(
        "batch",
        "run",
        "nightly",
        *job_args(source, "--partition", "run_date=2026-12-02"),
    )
    assert failed.returncode == 2
    assert "row 5 cannot be scored: income is null" in failed.stderr
    assert "Traceback" not in failed.stderr
    engine = usina("batch", "run", "nightly", *job_args(source, "--engine", "spark"))
    assert engine.returncode == 2 and "engine must be 'local' or 'ray'" in engine.stderr

    jobs = orjson.loads(usina("batch", "jobs", "--json").stdout)
    assert [(j["status"], j["version"], j["rows_rejected"]) for j in jobs] == [
        ("failed", 1, 0),
        ("succeeded", 1, 1),
    ]
    assert "nightly" in wide.run("batch", "jobs").stdout

    query = "select run_date, count(*) as n from scores group by all"
    found = orjson.loads(usina("sql", "--json", query).stdout)
    assert found == [{"run_date": "2026-12-01", "n": 999}]
    rejects = wide.run("sql", "select id, reason from scores_rejects")
    assert "income is null" in rejects.stdout
    bad = usina("sql", "select * from nowhere")
    assert bad.returncode == 2 and "nowhere" in bad.stderr
    export = ["batch", "export", "scores", "--partition", "run_date=2026-12-01"]
    bad = usina(*export, "--to", "s3://bucket/scores")
    assert bad.returncode == 2 and "bigquery:PROJECT.DATASET.TABLE" in bad.stderr
    day = ["--partition", "run_date=1999-01-01", "--to", "bigquery:p-1.d.t"]
    bad = usina(*export[:3], *day)
    assert bad.returncode == 2 and "no published files" in bad.stderr

    scheduled = usina(
        "batch",
        "schedule",
        "daily",
        "--cron",
        "0 3 * * *",
        *job_args(source, "--partition", "run_date={date}"),
        "--json",
    )
    assert scheduled.returncode == 0, scheduled.stderr
    assert orjson.loads(scheduled.stdout)["pipeline"] == "batch:daily"
    refused = usina(
        "batch",
        "schedule",
        "weekly",
        "--cron",
        "0 3 * * 1",
        *job_args(source, "--partition", "run_date={day}"),
    )
    assert refused.returncode == 2 and "{day}" in refused.stderr


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
