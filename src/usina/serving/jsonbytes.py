"""JSON bytes for responses and request log rows (numpy and orjson only, so the request log's
writer process can use it without importing the registry and SQLAlchemy)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

# A request log row's inputs, as serving queues them, take one of two forms: (column names,
# JSON rows), or for a 2-D float64 array, the usual model input, (column names, the array's
# bytes in C order, its width). The second costs a copy of the array on the request path; the
# writer turns a batch of them into JSON at once (``usina.serving.logfiles``).
RawRows = tuple[tuple[str, ...], bytes, int]


def dumps(value: Any) -> bytes:
    """JSON bytes for responses and log rows: numpy arrays directly, anything else as text."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=_fallback)


def json_inputs(inputs: Any) -> Any:
    """A log row's inputs as (column names, JSON rows), whichever form serving queued."""
    if type(inputs) is tuple and len(inputs) == 3:
        names, raw, width = inputs
        return names, dumps(raw_rows(raw, width))
    return inputs


def raw_rows(raw: bytes, width: int) -> np.ndarray:
    """The float64 rows of a raw inputs form."""
    return np.frombuffer(raw, np.float64).reshape(-1, width)


def _fallback(value: Any) -> Any:
    if isinstance(value, np.ndarray):  # object or string arrays orjson cannot take directly
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
