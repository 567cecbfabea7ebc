"""The project in docs/pipelines.md runs as written: run, rerun from cache, lineage, compile."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

DOC = Path(__file__).parents[2] / "docs" / "pipelines.md"


def test_the_documented_project_runs(tmp_path: Path) -> None:
    text = DOC.read_text()
    [sql] = re.findall(r"```sql\n(.*?)```", text, re.S)
    [code] = re.findall(r"```py\n(.*?)```", text, re.S)
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "features.sql").write_text(sql)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "pipeline.py").write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    env["USINA_HOME"] = str(tmp_path / "home")
    exe = str(Path(sys.executable).parent / "usina")

    def usina(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )

    first = usina("run", "src/pipeline.py:training", "-p", "C=0.5")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "4 done" in first.stdout
    again = usina("run", "src/pipeline.py:training", "-p", "C=0.5")
    assert "4 cached" in again.stdout
    lineage = usina("lineage", "models:/credit-risk/1")
    assert lineage.returncode == 0, lineage.stderr
    assert "step load" in lineage.stdout and "input datasets: sha256:" in lineage.stdout
    compiled = usina(
        "compile",
        "src/pipeline.py:training",
        "--target",
        "kfp",
        "-o",
        "training.yaml",
        "--image",
        "python:3.11",
    )
    assert compiled.returncode == 0, compiled.stderr
    spec = yaml.safe_load((tmp_path / "training.yaml").read_text())
    assert set(spec["root"]["dag"]["tasks"]) == {
        "step-load",
        "step-features",
        "step-train",
        "step-evaluate",
    }
