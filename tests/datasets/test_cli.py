"""``usina ingest``, ``usina datasets ...``, ``usina lineage datasets:/...`` and ``usina sql``
over datasets, as a user runs them: exit 0 when all is well, 1 when an expectation fails
(with the report), 2 for bad input (one line, no traceback)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from datasets.conftest import write_csv
from resources.cli_session import CliSession


def test_the_dataset_commands_from_ingest_to_validate(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    env["USINA_HOME"] = str(tmp_path / "home")
    write_csv(tmp_path / "day1.csv", 1000)
    write_csv(tmp_path / "day2.csv", 900, plans="abd")
    write_csv(tmp_path / "day3.csv", 400)
    (tmp_path / "expect.yaml").write_text(
        "expectations:\n"
        "  - {kind: volume, max_drop: 0.3}\n"
        "  - {kind: categories, column: plan, allowed: [a, b, c]}\n"
        "  - {kind: unique, columns: [id]}\n"
    )
    (tmp_path / "daily.sql").write_text(
        "select plan, count(*) as n from applications group by plan"
    )
    with CliSession(env, tmp_path) as usina:
        first = usina.run("ingest", "day1.csv", "--dataset", "applications")
        assert first.returncode == 0, first.stderr
        assert "datasets:/applications/1: new version 1, 1,000 rows, 4 columns" in first.stdout
        again = usina.run("ingest", "day1.csv", "-d", "applications", "--json")
        assert json.loads(again.stdout)["created"] is False

        second = usina.run("ingest", "day2.csv", "-d", "applications")
        assert "new version 2, 900 rows" in second.stdout
        listed = json.loads(usina.run("datasets", "list", "--json").stdout)
        assert [(d["name"], d["latest"]) for d in listed] == [("applications", 2)]
        shown = usina.run("datasets", "show", "applications/1")
        assert "datasets:/applications/1  1,000 rows" in shown.stdout
        assert "│ plan " in shown.stdout and "│ string " in shown.stdout
        profile = json.loads(usina.run("datasets", "show", "applications/1", "--json").stdout)
        assert profile["profile"]["plan"]["top"] == [["a", 334], ["b", 333], ["c", 333]]
        versions = json.loads(usina.run("datasets", "versions", "applications", "--json").stdout)
        assert [v["version"] for v in versions] == [2, 1]
        diff = usina.run("datasets", "diff", "applications/1", "applications")
        assert "rows 1,000 -> 900 (-10.0%)" in diff.stdout
        assert "top categories new ['d'] gone ['c']" in diff.stdout

        expect = usina.run("datasets", "expect", "applications", "expect.yaml")
        assert "dataset applications: 3 expectation(s)" in expect.stdout
        failed = usina.run("datasets", "validate", "applications")
        assert failed.returncode == 1
        assert "FAIL" in failed.stdout and "300 row(s) outside (d)" in failed.stdout
        report = json.loads(usina.run("datasets", "validate", "applications/1", "--json").stdout)
        assert report["ok"] is True and len(report["results"]) == 3

        dropped = usina.run("ingest", "day3.csv", "-d", "applications")
        assert dropped.returncode == 1
        assert "-55.6% (900 -> 400 rows)" in dropped.stdout
        assert "nothing was registered" in dropped.stderr

        queried = json.loads(usina.run("sql", "daily.sql", "--json").stdout)
        assert sorted((r["plan"], r["n"]) for r in queried) == [("a", 300), ("b", 300), ("d", 300)]
        translated = usina.run("sql", "daily.sql", "--dialect", "bigquery")
        assert "COUNT(*) AS n" in translated.stdout and translated.returncode == 0

        lineage = usina.run("lineage", "datasets:/applications/1")
        assert "ingested from day1.csv" in lineage.stdout and "read by" in lineage.stdout

        for bad in (
            ("ingest", "nothing.csv", "-d", "applications"),
            ("ingest", "day1.csv", "-d", "bad name"),
            ("datasets", "show", "applications/9"),
            ("datasets", "show", "datasets:/applications@champion"),
            ("datasets", "expect", "applications", "daily.sql"),
            ("sql", "select * from t asof join u on t.a >= u.a", "--dialect", "bigquery"),
        ):
            done = usina.run(*bad)
            assert done.returncode == 2, (bad, done.stdout, done.stderr)
            assert "Traceback" not in done.stderr and done.stderr.startswith("error: "), bad
