"""The value checks of tracking, in one place: the SQL store runs them on every write, and the
HTTP store and the routes build their records with them, so no backend lets through what
another refuses."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from typing import Any

from usina.artifacts import ArtifactStore, blob_key
from usina.errors import InvalidInput, NotFound
from usina.tracking.entities import Metric, RunStatus

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._\-/]{0,255}")
_KEY = re.compile(r"[A-Za-z0-9_\-./ :]{1,250}")
MAX_VALUE = 8000
FINAL_STATUSES = tuple(s for s in RunStatus if s is not RunStatus.RUNNING)
_FINAL_VALUES = frozenset(s.value for s in FINAL_STATUSES)


def check_name(value: str, field: str) -> str:
    """Experiment and run names: letters, digits, space and ``._-/``, up to 256."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput(
            f"{field} {value!r} is not a valid name; use letters, digits, spaces and '._-/' "
            "(starting with a letter or digit, at most 256 characters)",
            field=field,
        )
    return value


def check_key(key: Any, kind: str) -> str:
    """A param, tag or metric name: letters, digits and ``_-./ :``, up to 250."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidInput(
            f"{kind} name {key!r} is not valid; use letters, digits and '_-./ :' "
            "(at most 250 characters)",
            field=kind,
        )
    return key


def check_value(key: str, value: Any, kind: str) -> str:
    """A param or tag value as text, at most ``MAX_VALUE`` characters."""
    text = str(value)
    if len(text) > MAX_VALUE:
        raise InvalidInput(
            f"{kind} {key!r} is {len(text)} characters long; the limit is {MAX_VALUE}. "
            "Log long text as an artifact instead",
            field=key,
        )
    return text


def checked(items: Mapping[str, Any] | None, kind: str) -> dict[str, str]:
    """Params or tags with checked names and values, as text."""
    return {check_key(k, kind): check_value(k, v, kind) for k, v in (items or {}).items()}


def check_final_status(status: Any) -> RunStatus:
    """The status a run ends with: finished, failed or killed (never running)."""
    value = status.value if isinstance(status, RunStatus) else status
    if value not in _FINAL_VALUES:
        raise InvalidInput(
            f"status {value!r} is not finished, failed or killed; a run ends with one of them",
            field="status",
        )
    return RunStatus(value)


def require_blob(artifacts: ArtifactStore, digest: str) -> None:
    """Refuse a record that points at a blob the artifact store does not hold."""
    if not artifacts.exists(blob_key(digest)):
        raise NotFound(
            f"no blob sha256:{digest[:12]}... in the artifact store; store the bytes first "
            f"(upload them to /api/v1/artifacts/{blob_key(digest)} on a server)",
            field="digest",
        )


def metric(key: str, value: Any, step: int = 0, timestamp: float | None = None) -> Metric:
    """Build a checked ``Metric``: the key is valid, the value a number, the step an integer."""
    check_key(key, "metric")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"metric {key!r} has value {value!r}, not a number", field=key) from None
    if not math.isfinite(number):
        # SQLite stores NaN as NULL and JSON has no NaN or infinity: refuse them everywhere.
        raise InvalidInput(
            f"metric {key!r} is {number}; log finite numbers only (skip the step, or log a tag)",
            field=key,
        )
    if isinstance(step, bool) or not isinstance(step, int):
        raise InvalidInput(f"metric {key!r} step {step!r} is not an integer", field="step")
    if timestamp is None:
        timestamp = time.time()
    elif (
        isinstance(timestamp, bool)
        or not isinstance(timestamp, int | float)
        or not math.isfinite(timestamp)
    ):
        raise InvalidInput(
            f"metric {key!r} timestamp {timestamp!r} is not a finite number of seconds",
            field="timestamp",
        )
    return Metric(key, number, step, float(timestamp))
