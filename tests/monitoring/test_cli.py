"""``usina labels`` and ``usina monitors`` as a user runs them, on the database and through a
server: the same commands, the same answers, bad input refused with exit 2 naming the value."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

from resources.cli_session import CliSession
from resources.keys import environment_without_usina
from usina.artifacts import open_artifact_store
from usina.client import Client
from usina.testing.monitoring import T0, log_row, write_log

on_sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def ok(out: subprocess.CompletedProcess[str]) -> object:
    assert out.returncode == 0, (out.stdout, out.stderr)
    return json.loads(out.stdout) if out.stdout.lstrip().startswith(("{", "[")) else out.stdout


def fails(out: subprocess.CompletedProcess[str], *words: str) -> None:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    for word in words:
        assert word in out.stderr, out.stderr


def _installation(db_url: str, artifacts: Path) -> None:
    """A model with an endpoint, and 300 logged requests in one hour from T0."""
    client = Client(db_url, open_artifact_store(str(artifacts)))
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"age": rng.normal(40, 10, 1000), "tenure": rng.uniform(0, 10, 1000)})
    model = LogisticRegression().fit(train, train["tenure"] > 5)
    client.register_model(model, "credit-risk", input_example=train.head(2), reference=train)
    client.endpoints.create("credit", "models:/credit-risk/1")
    live = pd.DataFrame({"age": rng.normal(60, 10, 300), "tenure": rng.uniform(0, 10, 300)})
    answers = model.predict_proba(live)[:, 1]
    write_log(
        client.artifacts,
        [
            log_row(
                f"r{i}",
                T0 + 10 * i,
                {"customer_id": f"c{i:03d}", **live.iloc[i].to_dict()},
                float(answers[i]),
            )
            for i in range(300)
        ],
    )
    client.close()


@on_sqlite
@pytest.mark.parametrize("where", ["direct", "server"])
def test_labels_and_monitors_commands(where: str, db_url: str, live_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _installation(db_url, live_server.artifacts)
    base = environment_without_usina()
    if where == "direct":
        env = {**base, "USINA_DB_URL": db_url, "USINA_ARTIFACTS": str(live_server.artifacts)}
    else:
        env = {**base, "USINA_URL": live_server.url}
    env["COLUMNS"] = "250"
    truth = pd.DataFrame(
        {"request_id": [f"r{i}" for i in range(300)], "label": [i % 2 for i in range(300)]}
    )
    csv = tmp_path / "labels.csv"
    truth.iloc[:200].to_csv(csv, index=False)
    parquet = tmp_path / "labels.parquet"
    pq.write_table(pa.Table.from_pandas(truth.iloc[150:], preserve_index=False), parquet)
    keyed = tmp_path / "keyed.csv"
    keyed.write_text("customer_id,label\nc007,1\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("request_id,label\nr1,1\nmissing-9,0\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: from-file\nendpoint: credit\nwindow: 30m\nmetrics: [auc>=0.99]\n")

    with CliSession(env, tmp_path) as usina:
        assert ok(usina.run("labels", "ingest", "credit", str(csv), "--json")) == {
            "endpoint": "credit",
            "stored": 200,
            "replaced": 0,
        }
        got = ok(
            usina.run("labels", "ingest", "credit", str(parquet), "--batch-size", "60", "--json")
        )
        assert got == {"endpoint": "credit", "stored": 150, "replaced": 50}
        assert ok(usina.run("labels", "ingest", "credit", str(keyed), "--json"))["replaced"] == 1  # type: ignore[index]
        fails(usina.run("labels", "ingest", "credit", str(bad)), "'missing-9'")
        fails(usina.run("labels", "ingest", "credit", str(tmp_path / "x.txt")), "x.txt")

        made = ok(
            usina.run(
                "monitors",
                "create",
                "credit-watch",
                "--endpoint",
                "credit",
                "--window",
                "1h",
                "--schedule",
                "@hourly",
                "--drift-threshold",
                "0.1",
                "--profile",
                "vertex",
                "--metric",
                "auc>=0.70",
                "--metric",
                "latency_p99<=50ms",
                "--alert",
                "email:ml-team@example.com",
                "--json",
            )
        )
        assert made["metrics"] == ["auc>=0.70", "latency_p99<=50ms"]  # type: ignore[index]
        fails(
            usina.run("monitors", "create", "short", "--endpoint", "credit", "--window", "1m"),
            "5 minutes",
        )
        fails(usina.run("monitors", "create", "lost", "--endpoint", "nope"), "'nope'")
        fails(
            usina.run("monitors", "create", "odd", "--endpoint", "credit", "--metric", "aucc>1"),
            "'aucc'",
        )
        fails(
            usina.run("monitors", "create", "odd", "--endpoint", "credit", "--alert", "sms:1"),
            "sms:1",
        )
        assert ok(usina.run("monitors", "create", "--spec", str(spec), "--json"))["window"] == "30m"  # type: ignore[index]
        listed = ok(usina.run("monitors", "list", "--json"))
        assert [m["name"] for m in listed] == ["credit-watch", "from-file"]  # type: ignore[union-attr, index]
        assert "credit-watch" in str(ok(usina.run("monitors", "list")))

        end = str(T0 + 3000)
        done = ok(usina.run("monitors", "run", "credit-watch", "--end", end, "--json"))
        assert done["status"] == "breached", done  # type: ignore[index]
        (version,) = done["figures"]["versions"]  # type: ignore[index]
        assert version["drift"]["age"]["drifted"] and not version["drift"]["tenure"]["drifted"]
        assert version["labelled"] == 300 and "auc" in version["figures"]
        text = usina.run("monitors", "run", "credit-watch", "--end", end)
        assert text.returncode == 0 and "BREACH" in text.stdout and "age drifted" in text.stdout
        runs = ok(usina.run("monitors", "history", "credit-watch", "--json"))
        assert len(runs) == 2  # type: ignore[arg-type]
        table = usina.run("monitors", "history", "credit-watch")
        assert "drift age" in table.stdout and "auc" in table.stdout and "*" in table.stdout

        new = tmp_path / "ref.csv"
        pd.DataFrame({"age": np.linspace(50, 70, 500), "tenure": np.linspace(0, 10, 500)}).to_csv(
            new, index=False
        )
        assert "500 rows" in str(
            ok(usina.run("monitors", "reference", "models:/credit-risk/1", str(new)))
        )
        fails(usina.run("monitors", "reference", "models:/credit-risk/9", str(new)), "9")
        ok(usina.run("monitors", "delete", "from-file"))
        fails(usina.run("monitors", "get", "from-file"), "from-file")
