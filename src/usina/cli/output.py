"""Printing for the command line: rich tables for people, ``--json`` for scripts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import sys
from typing import Any

from rich.console import Console

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def when(ts: float | None) -> str:
    """A timestamp as local date and time to the second; '-' when absent."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def plain(value: Any) -> Any:
    """Dataclasses, enums and tuples as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def print_json(value: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(plain(value), option=orjson.OPT_INDENT_2).decode() + "\n")


def fmt_metric(value: float) -> str:
    return f"{value:.4g}"
