"""Dataset fixtures: a client on SQLite with a folder artifact store, and small files."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def client(sqlite_url: str, client_factory):  # type: ignore[no-untyped-def]
    return client_factory(sqlite_url)


def write_csv(path: Path, rows: int, *, start: int = 0, plans: str = "abc") -> Path:
    """``id,age,plan,income`` rows: ids from ``start``, plans cycling through ``plans``."""
    lines = ["id,age,plan,income"]
    lines += [
        f"{i},{18 + i % 60},{plans[i % len(plans)]},{1000.5 + i}"
        for i in range(start, start + rows)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
