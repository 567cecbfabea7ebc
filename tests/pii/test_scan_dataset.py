"""Personal data and datasets: ``usina pii scan datasets:/...`` reads a version as a user scans
what was ingested, and ``usina ingest --protect POLICY`` keeps raw values out of a version."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from usina.client import Client
from usina.datasets.api import ingest, load


def test_a_dataset_version_is_scanned_like_a_file(tmp_path: Path) -> None:
    db, artifacts = f"sqlite:///{tmp_path / 'usina.db'}", str(tmp_path / "artifacts")
    source = tmp_path / "clients.csv"
    source.write_text(
        "id,documento,nota\n"
        "1,111.444.777-35,cliente ligou\n"
        "2,529.982.247-25,sem contato\n"
        "3,123.456.789-00,CPF com dígito errado\n"
    )
    client = Client(db, artifacts)
    ingest(str(source), "clients", client=client)
    client.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    env |= {"USINA_DB_URL": db, "USINA_ARTIFACTS": artifacts, "USINA_HOME": str(tmp_path)}

    def scan(target: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "usina", "pii", "scan", target, "--json"]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    done = scan("datasets:/clients@latest")
    assert done.returncode == 0, done.stderr
    found = {(c["column"], c["kind"]): c["count"] for c in json.loads(done.stdout)["columns"]}
    assert found == {("documento", "cpf"): 2}, found  # the third fails its check digits
    missing = scan("datasets:/nobody@latest")
    assert missing.returncode == 2 and "nobody" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_ingest_with_a_policy_stores_no_raw_value(tmp_path: Path) -> None:
    db, artifacts = f"sqlite:///{tmp_path / 'usina.db'}", str(tmp_path / "artifacts")
    source = tmp_path / "clients.csv"
    source.write_text(
        "id,cpf,email\n1,111.444.777-35,ana@example.com\n2,529.982.247-25,bruno@example.com\n"
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text("columns:\n  cpf: token\n  email: token\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    env |= {"USINA_DB_URL": db, "USINA_ARTIFACTS": artifacts, "USINA_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "usina", "ingest", str(source), "--dataset", "clients"]

    def ingest(*more: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *more], env=env | extra, capture_output=True, text=True, timeout=120
        )

    keyless = ingest("--protect", str(policy), "--json")
    assert keyless.returncode == 2 and "USINA_PII_KEY" in keyless.stderr, keyless.stderr
    done = ingest(
        "--protect",
        str(policy),
        "--json",
        USINA_PII_KEY=base64.b64encode(bytes(range(32))).decode(),
    )
    assert done.returncode == 0, done.stderr

    client = Client(db, artifacts)
    table = load("datasets:/clients@latest", client=client)
    client.close()
    for column in ("cpf", "email"):
        assert all(v.startswith("tok:") for v in table.column(column).to_pylist())
    assert table.column("id").to_pylist() == [1, 2]
    raw = (b"111.444.777-35", b"529.982.247-25", b"ana@example.com", b"bruno@example.com")
    for path in tmp_path.rglob("*"):
        if path.is_file() and path != source:
            data = path.read_bytes()
            assert not any(r in data for r in raw), f"a raw value is in {path}"
