"""Every command of the tracking, models, endpoints, logs and audit families answers the same with
``USINA_URL`` set as on the database directly.

A real ``usina server`` (a subprocess on a free loopback port) serves the database; each row of
``COMMANDS`` runs twice on that same database: once directly (``USINA_DB_URL``) on objects named
``...-d``, once through the server (``USINA_URL``) on objects named ``...-r``, and the two
``--json`` outputs (or, for an error, the exit status and message) must be equal once
normalised. Each side's commands run in turn in one process of its own, the ``usina`` entry
point called once per command (``resources/cli_session.py``), so the comparison does not pay a
Python start and the imports for each of them. What is normalised, because it legitimately
differs:

- the ``-d``/``-r`` suffix of the objects each side works on, and the ids of their runs;
- times (``created_at``, ``updated_at``, ``start_time``, ``end_time``, ``at``, ``timestamp``):
  the two commands run a moment apart.

Nothing else is: actors, versions, digests, generations, traffic, figures and list contents are
compared as they are. A family's commands are added as rows. The pipeline, lineage and
schedule commands need a pipeline run first; ``tests/pipelines/test_remote_cli.py`` compares
them the same way along one story.
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

import pytest

from resources.cli_session import CliSession
from resources.processes import StartedProcesses
from resources.servers import free_port, wait_until_serving
from usina.artifacts import put_bytes
from usina.audit import AuditEvent
from usina.client import Client
from usina.registry import Column, Signature

TIMES = {"created_at", "updated_at", "start_time", "end_time", "at", "timestamp"}


@dataclass(frozen=True)
class Row:
    """A command, with ``{s}`` for the side's suffix and ``{run}`` for the side's run id."""

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
    row("endpoints", "stats", "e-{s}", "--json"),
    row("endpoints", "delete", "e-{s}", "--json"),
    row("endpoints", "show", "e-{s}", "--json", fails=True),
    # logs
    row("logs", "query", "select count(*) as n from requests", "--json"),
    row("logs", "query", "select nothing from nowhere", fails=True),
    # audit (one log, written by the fixture: both sides read the same records)
    row("audit", "list", "--json"),
    row("audit", "list", "--actor", "parity", "--decision", "deny", "--json"),
    row("audit", "list", "--resource", "models/*", "--since", "2023-11-14", "--json"),
    row("audit", "list", "--decision", "maybe", fails=True),
    row("audit", "verify", "--json"),
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
    row("roles", "create", "role-{s}", "-p", "usina.models.read", "--json"),
    row("roles", "create", "role-{s}", "-p", "usina.models.fly", fails=True),
    row("roles", "show", "role-{s}", "--json"),
    row("roles", "list", "--json"),
    row("roles", "permissions", "--json"),
    row("bindings", "create", "sa-{s}", "viewer", fails=True),
    row("bindings", "create", "service-account:sa-{s}", "viewer", "-r", "planets/x", fails=True),
    row("tokens", "create", "--for", "group:g-{s}", "--expires", "1d", fails=True),
    row("tokens", "create", "--for", "service-account:sa-{s}", "--expires", "91d", fails=True),
    row("roles", "delete", "role-{s}", "--json"),
    row("groups", "delete", "g-{s}", "--json"),
    row("service-accounts", "delete", "sa-{s}", "--json"),
    row("service-accounts", "show", "sa-{s}", fails=True),
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
    client = Client(db_url, artifacts, actor="parity")
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
    client.audit.append(  # type: ignore[attr-defined]
        AuditEvent("parity", "usina.models.deploy", f"models/m-{side}", decision, status)
        for side in ("d", "r")
        for decision, status in (("allow", 200), ("deny", 403))
    )
    # The remote side acts as the admin service account "parity", the direct side's actor.
    client.identity.create_principal("service-account", "parity")
    client.identity.bind("service-account:parity", "admin")
    token = client.identity.issue_token("service-account:parity", 3600).secret
    client.close()
    (tmp_path / "applications.csv").write_text("id,plan\n1,a\n2,b\n3,a\n")
    (tmp_path / "applications-2.csv").write_text("id,plan\n1,a\n2,c\n3,a\n4,c\n")
    (tmp_path / "expectations.yaml").write_text("- {kind: unique, columns: [id]}\n")

    base = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    base |= {"USINA_HOME": str(tmp_path / "home"), "USINA_ACTOR": "parity"}
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


def _normalise(value: Any, runs: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: None if k in TIMES else _normalise(v, runs) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, runs) for v in value]
    if isinstance(value, str):
        for side, run_id in runs.items():
            value = value.replace(run_id, f"<run-{side}>")
        return re.sub(r"\b(exp|m|e|ghost|run|sa|g|role|ds)-[dr]\b", r"\1-*", value)
    return value


@pytest.mark.slow
def test_every_command_answers_the_same_through_the_server(
    installation: Installation, tmp_path: Path
) -> None:
    # The two sides of a row work on their own objects, so they run at the same time; the
    # next row starts when both are done.
    with (
        CliSession(installation.direct, tmp_path) as direct,
        CliSession(installation.remote, tmp_path) as remote,
        ThreadPoolExecutor(2) as pool,
    ):
        for command in COMMANDS:
            sides = {}
            for side, session in (("d", direct), ("r", remote)):
                args = tuple(
                    a.replace("{s}", side).replace("{run}", installation.runs[side])
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
