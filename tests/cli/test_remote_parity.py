"""Every command of docs/cli.md that reads or changes the installation answers the same with
``USINA_URL`` set as on the database directly: tracking, models, endpoints, logs, labels,
monitors, alerts, batch prediction and SQL, the audit log, and identity.

A real ``usina server`` (a subprocess on a free loopback port) serves the database; each row of
``COMMANDS`` runs twice on that same database: once directly (``USINA_DB_URL``) on objects named
``...-d``, once through the server (``USINA_URL``) on objects named ``...-r``, and the two
``--json`` outputs (or, for an error, the exit status and message) must be equal once
normalised. Each side's commands run in turn in one process of its own, the ``usina`` entry
point called once per command (``resources/cli_session.py``), so the comparison does not pay a
Python start and the imports for each of them. What is normalised, because it legitimately
differs:

- the ``-d``/``-r`` suffix of the objects each side works on, and the ids of their runs;
- times (``created_at``, ``started_at``, ``at``... see ``TIMES``) and durations: the two
  commands run a moment apart;
- the fresh ids of what the commands create (a monitor run, a batch job and its files' names,
  alerts).

Nothing else is: actors, versions, digests, generations, traffic, figures and list contents are
compared as they are. A family's commands are added as rows. The pipeline, lineage and
schedule commands need a pipeline run first; ``tests/pipelines/test_remote_cli.py`` compares
them the same way along one story. Commands that read a password or a login from the terminal
(``users create|password``, ``auth login|logout|whoami|bootstrap``) are run through a server
in ``tests/identity/test_cli.py``; the processes (``server``, ``serve``, ``scheduler``,
``demo``) and ``compile``/``submit`` read no store of their own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

from resources.cli_session import CliSession
from resources.keys import some_keys
from resources.processes import StartedProcesses
from resources.servers import free_port, wait_until_serving
from usina.artifacts import put_bytes
from usina.audit import AuditEvent
from usina.client import Client
from usina.registry import Column, Signature
from usina.testing.monitoring import T0, log_row, write_log

TIMES = {
    *("created_at", "updated_at", "start_time", "end_time", "at", "timestamp"),
    *("started_at", "ended_at", "scored_at", "ran_at", "last_used_at", "expires_at"),
    *("first_seen", "last_seen", "last_sent", "resolved_at", "finished_at", "heartbeat_at"),
    "published_at",  # when a topic's message was published
    "seconds",  # how long a monitor run took
    *("since", "seen_upto"),  # when a policy's loop entered its state, and its latest window
}
# The ids of what commands create (runs of monitors, batch jobs, alerts and their deliveries):
# each side's own, numbered by the database in the order the two sides happened to write.
FRESH = {"id", "alert", "alert_id"}


@dataclass(frozen=True)
class Row:
    """A command, with ``{s}`` for the side's suffix, ``{run}`` for the side's run id and
    ``{tmp}`` for the test's folder (where the fixture leaves the files commands read)."""

    args: tuple[str, ...]
    fails: bool = False  # the command is expected to exit 2 on both sides


def row(*args: str, fails: bool = False) -> Row:
    return Row(args, fails)


# In order: later rows see what earlier rows did, on both sides.
COMMANDS: list[Row] = [
    # tracking
    row("experiments", "list", "--json"),
    row("runs", "list", "--experiment", "exp-{s}", "--json"),
    row("runs", "list", "--status", "finished", "--json"),
    row("runs", "show", "{run}", "--json"),
    row("runs", "show", "0" * 32, "--json", fails=True),
    # models
    row("models", "list", "--json"),
    row("models", "show", "m-{s}", "--json"),
    row("models", "show", "models:/m-{s}/1", "--json"),
    row("models", "versions", "m-{s}", "--json"),
    row("models", "alias", "m-{s}", "champion", "1", "--reason", "first", "--json"),
    row("models", "alias", "m-{s}", "champion", "2", "--json"),
    row("models", "alias", "m-{s}", "champion", "9", "--json", fails=True),
    row("models", "rollback", "m-{s}", "--json"),
    row("models", "history", "m-{s}", "--json"),
    row("models", "alias", "m-{s}", "champion", "--delete", "--json"),
    row("models", "alias", "m-{s}", "champion", "2", "--json"),
    row("models", "show", "ghost-{s}", "--json", fails=True),
    # endpoints
    row("endpoints", "create", "e-{s}", "--model", "models:/m-{s}@champion", "--json"),
    row("endpoints", "create", "e-{s}", "--model", "models:/m-{s}@champion", fails=True),
    row("endpoints", "list", "--json"),
    row("endpoints", "show", "e-{s}", "--json"),
    row("endpoints", "split", "e-{s}", "1=90", "2=10", "--json"),
    row("endpoints", "split", "e-{s}", "1=50", fails=True),
    row("endpoints", "shadow", "e-{s}", "1", "--json"),
    row("endpoints", "shadow", "e-{s}", "--off", "--json"),
    row("endpoints", "follow", "e-{s}", "champion", "--json"),
    row("endpoints", "configure", "e-{s}", "--sample-rate", "0.5", "--json"),
    row("endpoints", "configure", "e-{s}", "--max-latency-ms", "50", fails=True),
    row("endpoints", "configure", "e-{s}", "--log-policy", "log-policy.yaml", "--json"),
    row("endpoints", "configure", "e-{s}", "--log-policy", "bad-policy.yaml", fails=True),
    row("endpoints", "show", "e-{s}", "--json"),
    row("endpoints", "configure", "e-{s}", "--log-policy", "none", "--json"),
    row("endpoints", "stats", "e-{s}", "--json"),
    row("endpoints", "delete", "e-{s}", "--json"),
    row("endpoints", "show", "e-{s}", "--json", fails=True),
    # logs
    row("logs", "query", "select count(*) as n from requests", "--json"),
    row("logs", "query", "select nothing from nowhere", fails=True),
    # labels, monitors and alerts: each side's endpoint has an hour of logged requests
    row("endpoints", "create", "me-{s}", "--model", "models:/credit-risk/1", "--json"),
    row("labels", "ingest", "me-{s}", "{tmp}/labels-{s}.csv", "--json"),
    row("labels", "ingest", "me-{s}", "{tmp}/nowhere.csv", fails=True),
    row("labels", "ingest", "me-{s}", "{tmp}/bad-labels-{s}.csv", fails=True),
    row(
        *("monitors", "create", "mon-{s}", "--endpoint", "me-{s}", "--window", "1h"),
        *("--metric", "auc>=0.99", "--alert", "log:ops", "--json"),
    ),
    row("monitors", "create", "mon-{s}", "--endpoint", "me-{s}", "--window", "1m", fails=True),
    row("monitors", "create", "odd-{s}", "--endpoint", "me-{s}", "--metric", "aucc>1", fails=True),
    row("monitors", "list", "--json"),
    row("monitors", "get", "mon-{s}", "--json"),
    row("monitors", "run", "mon-{s}", "--end", "{end}", "--json"),
    row("monitors", "history", "mon-{s}", "--json"),
    row("monitors", "reference", "models:/credit-risk/1", "{tmp}/reference.csv", "--json"),
    row("monitors", "reference", "models:/credit-risk/9", "{tmp}/reference.csv", fails=True),
    # policies on the monitor (their files are written by the fixture)
    row("policies", "plan", "{tmp}/policy-{s}.yaml", "--json"),
    row("policies", "apply", "{tmp}/policy-{s}.yaml", "--json"),
    row("policies", "apply", "{tmp}/policy-{s}.yaml", "--json"),
    row("policies", "apply", "{tmp}/bad-policy-{s}.yaml", fails=True),
    row("policies", "list", "--json"),
    row("policies", "show", "pol-{s}", "--json"),
    row("policies", "show", "ghost-{s}", fails=True),
    row("events", "--policy", "pol-{s}", "--json"),
    row("policies", "delete", "pol-{s}", "--json"),
    row("policies", "delete", "pol-{s}", fails=True),
    row("alerts", "list", "--monitor", "mon-{s}", "--json"),
    row("alerts", "list", "--state", "sideways", fails=True),
    row("monitors", "delete", "mon-{s}", "--json"),
    row("monitors", "get", "mon-{s}", "--json", fails=True),
    # batch prediction and SQL over its tables
    row(
        *("batch", "run", "job-{s}", "--model", "models:/credit-risk/1"),
        *("--input", "{tmp}/applicants.parquet", "--output", "scores_{s}", "--keys", "id"),
        *("--partition", "run_date=2026-12-01", "--json"),
    ),
    row(
        *("batch", "run", "job-{s}", "--model", "models:/credit-risk/1"),
        *("--input", "{tmp}/applicants.parquet", "--output", "scores_{s}", "--keys", "nope"),
        fails=True,
    ),
    row("batch", "jobs", "--name", "job-{s}", "--json"),
    row(
        *(
            "batch",
            "schedule",
            "job-{s}",
            "--cron",
            "0 3 * * *",
            "--model",
            "models:/credit-risk/1",
        ),
        *("--input", "{tmp}/applicants.parquet", "--output", "scores_{s}", "--keys", "id"),
        *("--partition", "run_date={date}", "--json"),
    ),
    row("batch", "jobs", "--status", "sideways", fails=True),
    row("sql", "select run_date, count(*) as n from scores_{s} group by all", "--json"),
    row("sql", "select * from nowhere_{s}", fails=True),
    # audit (one log, written by the fixture: both sides read the same records)
    row("audit", "list", "--json"),
    row("audit", "list", "--actor", "parity", "--decision", "deny", "--json"),
    row("audit", "list", "--resource", "models/*", "--since", "2023-11-14", "--json"),
    row("audit", "list", "--decision", "maybe", fails=True),
    row("audit", "verify", "--json"),
    row("audit", "checkpoint", "--out", "{tmp}/checkpoint-{s}.json", "--json"),
    # secrets (set by the fixture: commands read no stdin here), with the master key on both
    row("secrets", "list", "--json"),
    row("secrets", "get", "sec-{s}", "--json"),
    row("secrets", "get", "sec-{s}", "--reveal", "--json"),
    row("secrets", "get", "ghost-{s}", "--reveal", fails=True),
    row("secrets", "set", "sec-{s}", fails=True),
    row("secrets", "set", "bad/name-{s}", fails=True),
    row("secrets", "delete", "sec-{s}", "--json"),
    row("secrets", "delete", "sec-{s}", fails=True),
    # identity (through the server as the admin service account "parity", by USINA_TOKEN)
    row("service-accounts", "create", "sa-{s}", "--description", "scores", "--json"),
    row("service-accounts", "create", "sa-{s}", fails=True),
    row("service-accounts", "list", "--json"),
    row("service-accounts", "show", "sa-{s}", "--json"),
    row("groups", "create", "g-{s}", "--member", "service-account:sa-{s}", "--json"),
    row("groups", "create", "g-{s}", "--member", "group:g-{s}", fails=True),
    row("groups", "remove", "g-{s}", "service-account:sa-{s}", "--json"),
    row("groups", "add", "g-{s}", "service-account:sa-{s}", "--json"),
    row("groups", "list", "--json"),
    row("groups", "show", "g-{s}", "--json"),
    row("users", "show", "ghost-{s}", fails=True),
    row("users", "list", "--json"),
    row("users", "show", "ann", "--json"),
    row("users", "delete", "bob-{s}", "--json"),
    row("users", "delete", "bob-{s}", fails=True),
    row("tokens", "list", "--for", "service-account:parity", "--json"),
    row("roles", "create", "role-{s}", "-p", "usina.models.read", "--json"),
    row("roles", "create", "role-{s}", "-p", "usina.models.fly", fails=True),
    row("roles", "show", "role-{s}", "--json"),
    row("roles", "list", "--json"),
    row("roles", "permissions", "--json"),
    row("bindings", "create", "sa-{s}", "viewer", fails=True),
    row("bindings", "create", "service-account:sa-{s}", "viewer", "-r", "planets/x", fails=True),
    row("bindings", "list", "--json"),
    row("bindings", "delete", "999999", fails=True),
    row("tokens", "revoke", "999999", fails=True),
    row("tokens", "create", "--for", "group:g-{s}", "--expires", "1d", fails=True),
    row("tokens", "create", "--for", "service-account:sa-{s}", "--expires", "91d", fails=True),
    row("roles", "delete", "role-{s}", "--json"),
    row("groups", "delete", "g-{s}", "--json"),
    row("service-accounts", "delete", "sa-{s}", "--json"),
    row("service-accounts", "show", "sa-{s}", fails=True),
    # pii (neither side has a key: the same refusal naming USINA_PII_KEY)
    row("pii", "reidentify", "enc:00000000:AAAA", fails=True),
    # topics (both sides on one topic log: the home's topics.db, which the server uses too)
    row("topics", "create", "t-{s}", "-c", "user_id:int64", "-c", "page:string?", "--json"),
    row("topics", "create", "t-{s}", fails=True),
    row("topics", "create", "t-{s}x", "-c", "user_id:decimal", fails=True),
    row("topics", "list", "--json"),
    row("topics", "show", "t-{s}", "--json"),
    row("topics", "publish", "t-{s}", "{records}", "--json"),
    row("topics", "publish", "t-{s}", "{bad}", fails=True),
    row("topics", "consume", "t-{s}", "-g", "g1", "--json"),
    row("topics", "consume", "t-{s}", "-g", "g1", "--wait", "0", "--json"),
    row("topics", "seek", "t-{s}", "-g", "g1", "--offset", "1", "--json"),
    row("topics", "consume", "t-{s}", "-g", "g1", "--json"),
    row("topics", "seek", "t-{s}", "-g", "g1", fails=True),
    row("topics", "delete", "t-{s}", "--yes", "--json"),
    row("topics", "show", "t-{s}", fails=True),
    # datasets (the files are written by the fixture, in the commands' working folder)
    row("ingest", "applications.csv", "--dataset", "ds-{s}", "--json"),
    row("ingest", "missing.csv", "--dataset", "ds-{s}", fails=True),
    row("ingest", "applications-2.csv", "--dataset", "ds-{s}", "--json"),
    row("datasets", "list", "--json"),
    row("datasets", "show", "ds-{s}", "--json"),
    row("datasets", "show", "datasets:/ds-{s}/1", "--json"),
    row("datasets", "versions", "ds-{s}", "--json"),
    row("datasets", "diff", "ds-{s}/1", "ds-{s}", "--json"),
    row("datasets", "expect", "ds-{s}", "expectations.yaml", "--json"),
    row("datasets", "validate", "ds-{s}", "--json"),
    row("datasets", "protect", "ds-{s}", "pii-policy.yaml", "--json"),
    row("datasets", "protect", "ds-{s}", "bad-policy.yaml", fails=True),
    row("datasets", "protect", "ds-{s}", fails=True),
    row("ingest", "applications.csv", "--dataset", "ds-{s}", "--json"),
    row("ingest", "applications.csv", "-d", "ds-{s}", "--protect", "log-policy.yaml", fails=True),
    row("datasets", "list", "--json"),
    row("datasets", "protect", "ds-{s}", "--clear", "--json"),
    row("datasets", "protect", "dk-{s}", "log-policy.yaml", "--json"),
    row("ingest", "applications.csv", "--dataset", "dk-{s}", fails=True),
    row("datasets", "show", "ghost-{s}", fails=True),
    row("sql", 'select count(*) as n from "ds-{s}"', "--json"),
    row("sql", "--dialect", "bigquery", "select epoch(ts) as t from x", "--json"),
    row("sql", "--dialect", "bigquery", "select * from a asof join b on a.t >= b.t", fails=True),
]


@dataclass
class Installation:
    direct: dict[str, str]
    remote: dict[str, str]
    runs: dict[str, str]


@pytest.fixture
def installation(db_url: str, tmp_path: Path, processes: StartedProcesses) -> Installation:
    """Two experiments, runs and models (``-d`` and ``-r``) on ``db_url``, served by a real
    ``usina server`` on a free loopback port."""
    artifacts = str(tmp_path / "artifacts")
    keys = some_keys()
    client = Client(db_url, artifacts, actor="parity", keys=keys)
    blob = put_bytes(client.artifacts, b"parity model")
    runs = {}
    for side in ("d", "r"):
        with client.start_run(f"exp-{side}", "train", params={"C": 1}) as run:
            run.log_metrics({"auc": 0.9})
        runs[side] = run.id
        for _ in range(2):
            client.registry.create_version(
                f"m-{side}",
                digest=blob.digest,
                size=blob.size,
                format="sklearn",
                model_class="sklearn.dummy.DummyClassifier",
                signature=Signature((Column("x", "double"),)),
                metrics={"auc": 0.9},
                run_id=run.id,
            )
    _monitoring_and_batch(client, tmp_path)
    for side in ("d", "r"):
        client.secrets.set(f"sec-{side}", f"value of {side}")
    client.audit.append(  # type: ignore[attr-defined]
        AuditEvent("parity", "usina.models.deploy", f"models/m-{side}", decision, status)
        for side in ("d", "r")
        for decision, status in (("allow", 200), ("deny", 403))
    )
    # The remote side acts as the admin service account "parity", the direct side's actor.
    for name in ("ann", "bob-d", "bob-r"):
        client.identity.create_principal("user", name)
    client.identity.create_principal("service-account", "parity")
    client.identity.bind("service-account:parity", "admin")
    token = client.identity.issue_token("service-account:parity", 3600).secret
    client.close()
    (tmp_path / "applications.csv").write_text("id,plan\n1,a\n2,b\n3,a\n")
    (tmp_path / "applications-2.csv").write_text("id,plan\n1,a\n2,c\n3,a\n4,c\n")
    (tmp_path / "expectations.yaml").write_text("- {kind: unique, columns: [id]}\n")
    (tmp_path / "pii-policy.yaml").write_text("columns:\n  plan: {operator: mask, keep: 0}\n")
    (tmp_path / "log-policy.yaml").write_text("columns: {plan: token}\nothers: {detect: redact}\n")
    (tmp_path / "bad-policy.yaml").write_text("columns: {plan: {operator: hash}}\n")

    base = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    base |= {
        "USINA_HOME": str(tmp_path / "home"),
        "USINA_ACTOR": "parity",
        "USINA_MASTER_KEY": keys.export(),
        "USINA_AUDIT_KEY": "parity checkpoint key",
    }
    stores = {"USINA_DB_URL": db_url, "USINA_ARTIFACTS": artifacts}
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        server = processes.start(
            [
                *(sys.executable, "-m", "usina", "server", "--host", "127.0.0.1"),
                *("--port", str(port), "--no-scheduler", "--no-serving"),
            ],
            own_group=True,
            env=base | stores,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, server, log_path, 90, "/readyz")
    return Installation(base | stores, base | {"USINA_URL": url, "USINA_TOKEN": token}, runs)


def _monitoring_and_batch(client: Client, folder: Path) -> None:
    """A real model (version 1 of ``credit-risk``, with a reference), an hour of logged
    requests for each side's endpoint ``me-d``/``me-r``, their labels, and the files the
    commands read."""
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"age": rng.normal(40, 10, 500), "tenure": rng.uniform(0, 10, 500)})
    model = LogisticRegression().fit(train, train["tenure"] > 5)
    client.register_model(model, "credit-risk", input_example=train.head(2), reference=train)
    live = pd.DataFrame({"age": rng.normal(60, 10, 120), "tenure": rng.uniform(0, 10, 120)})
    answers = model.predict_proba(live)[:, 1]
    for side in ("d", "r"):
        rows = [
            log_row(f"{side}{i}", T0 + 20 * i, live.iloc[i].to_dict(), float(answers[i]))
            for i in range(120)
        ]
        write_log(client.artifacts, [r._replace(endpoint=f"me-{side}") for r in rows], side)
        labels = pd.DataFrame(
            {"request_id": [f"{side}{i}" for i in range(120)], "label": [i % 2 for i in range(120)]}
        )
        labels.to_csv(folder / f"labels-{side}.csv", index=False)
        (folder / f"bad-labels-{side}.csv").write_text(f"request_id,label\n{side}1,1\nghost,0\n")
        policy = (
            # A batch model of each side's own (a model takes one policy).
            f"name: pol-{side}\nmonitor: mon-{side}\nendpoint: null\nmodel: m-{side}\n"
            "retrain:\n"
            "  pipeline: usina.testing.policies:retraining\n"
            "gate:\n  rules: [accuracy >= champion.accuracy]\n  holdout: datasets:/h@latest\n"
            "rollout:\n  canary: 10\n"
        )
        (folder / f"policy-{side}.yaml").write_text(policy)
        (folder / f"bad-policy-{side}.yaml").write_text(policy.replace("10", "100"))
    pd.DataFrame({"age": np.linspace(50, 70, 200), "tenure": np.linspace(0, 10, 200)}).to_csv(
        folder / "reference.csv", index=False
    )
    applicants = live.assign(id=[f"a{i}" for i in range(len(live))])
    pq.write_table(
        pa.Table.from_pandas(applicants, preserve_index=False), folder / "applicants.parquet"
    )


def _normalise(value: Any, runs: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: None if k in TIMES or k in FRESH else _normalise(v, runs) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_normalise(v, runs) for v in value]
    if isinstance(value, str):
        for side, run_id in runs.items():
            value = value.replace(run_id, f"<run-{side}>")
        value = re.sub(
            r"\b(exp|m|e|me|mon|job|ghost|run|sa|g|role|bob|checkpoint|t|sec|ds|dk|pol|policy)-[dr]\b",
            r"\1-*",
            value,
        )
        value = re.sub(r"\b(scores|nowhere)_[dr]\b", r"\1_*", value)
        value = re.sub(r"^value of [dr]$", "value of *", value)
        return re.sub(r"part-\d+-[0-9a-f]{32}-", "part-*-", value)  # a batch job's files
    return value


@pytest.mark.slow
def test_every_command_answers_the_same_through_the_server(
    installation: Installation, tmp_path: Path
) -> None:
    # The two sides of a row work on their own objects, so they run at the same time; the
    # next row starts when both are done.
    files = {"{records}": tmp_path / "records.jsonl", "{bad}": tmp_path / "bad.json"}
    files["{records}"].write_text('{"user_id": 1, "page": "/a"}\n{"user_id": 2}\n')
    files["{bad}"].write_text('[{"user_id": 3}, {"user_id": "four"}]')
    with (
        CliSession(installation.direct, tmp_path) as direct,
        CliSession(installation.remote, tmp_path) as remote,
        ThreadPoolExecutor(2) as pool,
    ):
        for command in COMMANDS:
            sides = {}
            for side, session in (("d", direct), ("r", remote)):
                args = tuple(
                    str(files[a])
                    if a in files
                    else a.replace("{s}", side)
                    .replace("{run}", installation.runs[side])
                    .replace("{tmp}", str(tmp_path))
                    .replace("{end}", str(T0 + 3600))
                    for a in command.args
                )
                sides[side] = (args, pool.submit(session.run, *args))
            answers = {}
            for side, (args, future) in sides.items():
                done = future.result()
                shown = " ".join(args)
                if command.fails:
                    assert done.returncode == 2, f"{shown}: {done.stdout}{done.stderr}"
                    assert "Traceback" not in done.stderr, f"{shown}: {done.stderr}"
                    answers[side] = _normalise(done.stderr.strip(), installation.runs)
                else:
                    assert done.returncode == 0, f"{shown} ({side}): {done.stderr}"
                    answers[side] = _normalise(json.loads(done.stdout), installation.runs)
            assert answers["d"] == answers["r"], (
                f"usina {' '.join(command.args)} answers differently through the server"
            )
            if command.args[1] == "list":
                assert answers["d"], f"usina {' '.join(command.args)} listed nothing"
