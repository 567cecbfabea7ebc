"""JSON bytes for responses and request log rows (numpy and orjson only, so the request log's
writer process can use it without importing the registry and SQLAlchemy)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson


def dumps(value: Any) -> bytes:
    """JSON bytes for responses and log rows: numpy arrays directly, anything else as text."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=_fallback)


def _fallback(value: Any) -> Any:
    if isinstance(value, np.ndarray):  # object or string arrays orjson cannot take directly
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
