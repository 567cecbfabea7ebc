"""The docs cover every command and setting, and their Python examples run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from usina.cli.main import app
from usina.settings import Settings

ROOT = Path(__file__).parents[1]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


def _commands(group: Any, prefix: str) -> list[str]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            found += _commands(command, path)
        else:
            found.append(path)
    return found


def test_every_command_is_documented() -> None:
    cli_doc = (ROOT / "docs" / "cli.md").read_text()
    commands = _commands(typer.main.get_command(app), "usina")
    assert "usina models rollback" in commands
    missing = [c for c in commands if f"`{c}" not in cli_doc]
    assert missing == []


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "settings.md").read_text() + (ROOT / "README.md").read_text()
    missing = [
        f"USINA_{n.upper()}" for n in Settings.model_fields if f"USINA_{n.upper()}" not in text
    ]
    assert missing == []


def _python_blocks() -> list[tuple[str, str]]:
    blocks = []
    for doc in DOCS:
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)):
            blocks.append((f"{doc.name}#{i}", block))
    return blocks


@pytest.mark.parametrize(("where", "code"), _python_blocks(), ids=[w for w, _ in _python_blocks()])
def test_python_examples_run(where: str, code: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    env["USINA_HOME"] = str(tmp_path / "home")
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, f"{where} failed:\n{out.stderr}"
