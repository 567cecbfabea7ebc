"""``usina pii scan datasets:/...`` reads a dataset version, as a user scans what was ingested."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from usina.client import Client
from usina.datasets.api import ingest


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
