"""Model signatures: the input columns a model expects, inferred from an example."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from usina.errors import InvalidInput


@dataclass(frozen=True)
class Column:
    """One input column: its name and Arrow type name (``int64``, ``double``, ``string``)."""

    name: str
    dtype: str


@dataclass(frozen=True)
class Signature:
    """The ordered input columns of a model; empty when no example was given."""

    inputs: tuple[Column, ...] = ()

    def to_json(self) -> str:
        return orjson.dumps(
            {"inputs": [{"name": c.name, "dtype": c.dtype} for c in self.inputs]}
        ).decode()

    @classmethod
    def from_json(cls, text: str) -> Signature:
        data = orjson.loads(text)
        return cls(tuple(Column(c["name"], c["dtype"]) for c in data.get("inputs", [])))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.inputs]


def infer_signature(example: Any) -> Signature:
    """Infer a signature from a pandas or polars DataFrame, an Arrow table, a 2-D array,
    a dict of columns or a list of row dicts. Array columns are named ``x0``, ``x1``, ...
    """
    import pyarrow as pa

    table = _to_arrow(example, pa)
    return Signature(tuple(Column(f.name, _type_name(f.type)) for f in table.schema))


def _to_arrow(example: Any, pa: Any) -> Any:
    if isinstance(example, pa.Table):
        return example
    module = type(example).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(example, preserve_index=False)
    if module == "polars":
        return example.to_arrow()
    if isinstance(example, dict):
        return pa.table({str(k): _column(v) for k, v in example.items()})
    if isinstance(example, list) and example and isinstance(example[0], dict):
        return pa.Table.from_pylist(example)
    try:
        import numpy as np

        array = np.asarray(example)
    except Exception as exc:
        raise _unsupported(example) from exc
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or (array.dtype == object and array.size == 0):
        raise _unsupported(example)
    return pa.table({f"x{i}": array[:, i] for i in range(array.shape[1])})


def _column(values: Any) -> Any:
    return values if hasattr(values, "__len__") and not isinstance(values, str) else [values]


def _type_name(arrow_type: Any) -> str:
    text = str(arrow_type)
    return {"large_string": "string", "large_binary": "binary"}.get(text, text)


def _unsupported(example: Any) -> InvalidInput:
    return InvalidInput(
        f"cannot infer a signature from a {type(example).__name__}; pass a DataFrame, an Arrow "
        "table, a 2-D array, a dict of columns or a list of row dicts as input_example",
        field="input_example",
    )
