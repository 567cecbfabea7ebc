"""Input checking against a version's signature, compiled once per version.

Every protocol parses its body into one of three shapes (row objects, positional rows, or named
columns) and hands it to :class:`InputCheck`, which returns the model's input: a float matrix
for all-numeric signatures (a DataFrame over that matrix when the model was fitted with column
names), a DataFrame of typed columns otherwise. A missing, extra, null or mistyped field raises
:class:`~usina.errors.InvalidInput` naming it, which the app answers with a 400.

The per-column checks are plain ``type(value) in allowed`` tests prepared at load time; no
pydantic model is built per request, and a single row never goes through pandas unless the
model itself needs a DataFrame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from usina.errors import InvalidInput
from usina.registry import Signature
from usina.serving.jsonbytes import RawRows, dumps

_FLOAT = ("double", "float", "float64", "float32", "halffloat", "float16")
_INT = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
_MISSING = object()


@dataclass(frozen=True)
class ModelInput:
    """What the model is called with, its number of rows, and the rows as the log records them."""

    data: Any
    rows: int


def _kind(dtype: str) -> str:
    if dtype in _FLOAT:
        return "number"
    if dtype in _INT:
        return "integer"
    if dtype in ("string", "large_string", "utf8"):
        return "string"
    if dtype == "bool":
        return "bool"
    return "any"


_DESCRIBE = {
    "number": "a number",
    "integer": "an integer",
    "string": "a string",
    "bool": "true or false",
}


class InputCheck:
    """The compiled check for one signature.

    Example:
        >>> from usina.registry import Column
        >>> check = InputCheck(Signature((Column("age", "int64"), Column("income", "double"))))
        >>> check.records([{"age": 30, "income": 1.5}], "instances").data
        array([[30. ,  1.5]])
    """

    def __init__(self, signature: Signature, feature_names: list[str] | None = None) -> None:
        self.signature = signature
        self.names = signature.names
        self.column_names = tuple(self.names)  # immutable, so log rows holding it stay GC-untracked
        self.kinds = [_kind(c.dtype) for c in signature.inputs]
        self.numeric = all(k in ("number", "integer") for k in self.kinds)
        self.all_number = all(k == "number" for k in self.kinds)
        # Models fitted on a DataFrame check column names; give them one, in signature order.
        self.wants_frame = not self.numeric or feature_names is not None
        self.index = {name: i for i, name in enumerate(self.names)}

    # -- the three request shapes -----------------------------------------------------------

    def records(self, instances: Any, field: str) -> ModelInput:
        """Rows as objects (column to value) or as lists in signature order."""
        if not isinstance(instances, list) or not instances:
            raise InvalidInput(f"'{field}' must be a non-empty list of rows", field=field)
        if not self.names:
            return self._unsigned(instances, field)
        if self.all_number:
            found = self._number_rows(instances)
            if found is not None:
                return found
        width = len(self.names)
        matrix: list[list[Any]] = []
        for i, row in enumerate(instances):
            if type(row) is dict:
                if len(row) != width or any(k not in self.index for k in row):
                    self._name_mismatch(row.keys(), f"{field}[{i}]")
                values = [row[name] for name in self.names]
            elif type(row) is list:
                if len(row) != width:
                    raise InvalidInput(
                        f"{field}[{i}] has {len(row)} values; the model takes {width}: "
                        f"{', '.join(self.names)}",
                        field=f"{field}[{i}]",
                    )
                values = row
            else:
                raise InvalidInput(
                    f"{field}[{i}] must be an object of column values or a list in signature order",
                    field=f"{field}[{i}]",
                )
            matrix.append(values)
        return self._build(matrix, field)

    def columns(self, columns: Any, field: str) -> ModelInput:
        """Named columns: ``{"age": [30, 41], "income": [1.5, 2.0]}``."""
        if not isinstance(columns, dict) or not columns:
            raise InvalidInput(f"'{field}' must be an object of column lists", field=field)
        if not self.names:
            raise InvalidInput(
                f"this model has no signature, so '{field}' cannot be matched by name; send rows "
                "as lists",
                field=field,
            )
        self._name_mismatch(columns.keys(), field, only_if_differs=True)
        lists = [columns[name] for name in self.names]
        lengths = {len(col) if isinstance(col, list) else -1 for col in lists}
        if len(lengths) != 1 or -1 in lengths or 0 in lengths:
            raise InvalidInput(
                f"the columns of '{field}' must be non-empty lists of equal length", field=field
            )
        return self._build([list(values) for values in zip(*lists, strict=True)], field)

    def split(self, columns: Any, data: Any, field: str) -> ModelInput:
        """``{"columns": [...], "data": [[...], ...]}``: rows with a column order of their own."""
        if not isinstance(columns, list) or not isinstance(data, list) or not data:
            raise InvalidInput(
                f"'{field}' needs 'columns' (a list of names) and 'data' (a non-empty list of "
                "rows)",
                field=field,
            )
        if not self.names:
            return self._unsigned(data, field)
        self._name_mismatch(columns, f"{field}.columns", only_if_differs=True)
        repeated = [c for i, c in enumerate(columns) if c in columns[:i]]
        if repeated:
            raise InvalidInput(
                f"'{field}.columns' repeats column {repeated[0]!r}", field=str(repeated[0])
            )
        order = [columns.index(name) for name in self.names]
        matrix = []
        for i, row in enumerate(data):
            if not isinstance(row, list) or len(row) != len(columns):
                raise InvalidInput(
                    f"{field}.data[{i}] must be a list of {len(columns)} values",
                    field=f"{field}.data[{i}]",
                )
            matrix.append([row[j] for j in order])
        return self._build(matrix, f"{field}.data")

    def array(self, array: np.ndarray, field: str, *, finite: bool = False) -> ModelInput:
        """A numeric 2-D array in signature order (Open Inference Protocol tensors).

        ``finite=True`` says the caller has already checked every value is finite (the batch
        scorer, which rejects such rows with a reason first), so the array is not read again.
        """
        if array.ndim != 2 or array.shape[0] == 0:
            raise InvalidInput(f"'{field}' must be a non-empty 2-D tensor", field=field)
        if self.names and array.shape[1] != len(self.names):
            raise InvalidInput(
                f"'{field}' has {array.shape[1]} columns; the model takes {len(self.names)}: "
                f"{', '.join(self.names)}",
                field=field,
            )
        if not self.numeric:
            return self._build(array.tolist(), field)
        if array.dtype.kind not in "iuf":
            raise InvalidInput(f"'{field}' must hold numbers", field=field)
        matrix = np.ascontiguousarray(array, dtype=np.float64)
        if not finite and not np.isfinite(matrix).all():
            raise InvalidInput(f"'{field}' holds NaN or infinite values", field=field)
        return ModelInput(self._frame_of(matrix) if self.wants_frame else matrix, len(matrix))

    # -- building the model input ------------------------------------------------------------

    def _number_rows(self, instances: list[Any]) -> ModelInput | None:
        """The float matrix of well-formed rows for an all-float signature, or None.

        The common request, checked in one pass: each row an object with exactly the
        signature's names or a list of its width, each value a plain int or float, each row's
        sum finite (a NaN or an infinity makes it so; a finite sum can only come from finite
        values). Anything else returns None and takes the general path, which names what is
        wrong, or accepts the rare valid row this pass leaves to it (finite values whose sum
        overflows).
        """
        names = self.names
        width = len(names)
        matrix: list[list[Any]] = []
        for row in instances:
            t = type(row)
            if t is dict:
                if len(row) != width:
                    return None
                try:
                    values = [row[name] for name in names]
                except KeyError:
                    return None
            elif t is list:
                if len(row) != width:
                    return None
                values = row
            else:
                return None
            for value in values:
                t = type(value)
                if t is not float and t is not int:
                    return None
            try:
                total = sum(values)
            except OverflowError:
                return None
            if total - total != 0:
                return None
            matrix.append(values)
        try:
            array = np.array(matrix, dtype=np.float64)
        except OverflowError:
            return None
        return ModelInput(self._frame_of(array) if self.wants_frame else array, len(matrix))

    def _build(self, matrix: list[list[Any]], field: str) -> ModelInput:
        kinds = self.kinds
        for i, values in enumerate(matrix):
            for j, value in enumerate(values):
                kind = kinds[j]
                t = type(value)
                if kind == "number":
                    if t is float or t is int:
                        continue
                elif kind == "integer":
                    if t is int or (t is float and value.is_integer()):
                        continue
                elif kind == "string":
                    if t is str:
                        continue
                elif kind == "bool":
                    if t is bool:
                        continue
                elif value is not None:
                    continue
                self._bad_value(value, kind, f"{field}[{i}].{self.names[j]}", self.names[j])
        if self.numeric:
            try:
                array = np.array(matrix, dtype=np.float64)
            except OverflowError:
                raise InvalidInput(
                    f"'{field}' holds an integer too large for a 64-bit float", field=field
                ) from None
            if not np.isfinite(array).all():
                raise InvalidInput(f"'{field}' holds NaN or infinite values", field=field)
            return ModelInput(self._frame_of(array) if self.wants_frame else array, len(matrix))
        import pandas as pd

        frame = pd.DataFrame(matrix, columns=self.names)
        for name, kind in zip(self.names, kinds, strict=True):
            if kind in ("number", "integer"):
                frame[name] = frame[name].astype("float64")
        return ModelInput(frame, len(matrix))

    def _frame_of(self, array: np.ndarray) -> Any:
        import pandas as pd

        return pd.DataFrame(array, columns=self.names, copy=False)

    def _unsigned(self, rows: list[Any], field: str) -> ModelInput:
        try:
            array = np.array(rows, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"'{field}' must be rows of numbers of equal length (this model has no signature)",
                field=field,
            ) from None
        if array.ndim == 1:
            array = array.reshape(1, -1)
        return self.array(array, field)

    def _name_mismatch(self, given: Any, field: str, only_if_differs: bool = False) -> None:
        given = list(given)
        missing = [n for n in self.names if n not in given]
        extra = [n for n in given if n not in self.index]
        if only_if_differs and not missing and not extra:
            return
        parts = []
        if missing:
            parts.append(f"missing field {', '.join(repr(n) for n in missing)}")
        if extra:
            parts.append(f"unknown field {', '.join(repr(str(n)) for n in extra)}")
        raise InvalidInput(
            f"{field}: {'; '.join(parts)}; the model takes {', '.join(self.names)}",
            field=str((missing or extra)[0]),
        )

    @staticmethod
    def _bad_value(value: Any, kind: str, where: str, name: str) -> None:
        if value is None:
            raise InvalidInput(
                f"{where} is null; field {name!r} needs {_DESCRIBE[kind]}", field=name
            )
        raise InvalidInput(
            f"{where} is {type(value).__name__} {str(value)[:40]!r}; field {name!r} needs "
            f"{_DESCRIBE[kind]}",
            field=name,
        )


# numpy's float64 type (native byte order): arrays made as float64 share it.
_FLOAT64 = np.dtype(np.float64)


def log_inputs(check: InputCheck, data: Any) -> tuple[tuple[str, ...], bytes] | RawRows:
    """The model input as the request log keeps it until written: column names and JSON rows,
    or for a 2-D float64 array (the usual input), column names, the array's bytes and its
    width (``usina.serving.jsonbytes.RawRows``), which the writer turns into JSON off the
    request path.

    Either way a queued log row holds only strings and bytes, which the garbage collector
    stops tracking, instead of arrays and DataFrames it would scan on every collection until
    the row is written.
    """
    if type(data) is not np.ndarray:
        if not hasattr(data, "to_numpy"):
            return check.column_names, dumps(data)
        data = data.to_numpy()
    if data.dtype is _FLOAT64 and data.ndim == 2:
        return check.column_names, data.tobytes(), data.shape[1]
    return check.column_names, dumps(data)
