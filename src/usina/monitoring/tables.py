"""Columns of a pandas DataFrame or a pyarrow Table, read the two ways a summary needs them.

A numeric column is read as one float64 numpy array (nulls become NaN); a categorical column as
counts per category, keyed by the category's text. Nothing here copies a whole table: each
column is read on its own, and a float64 pandas column is not copied at all.

pandas and pyarrow are imported inside the functions that need them, so importing
``usina.monitoring`` costs nothing until a table is summarised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from usina.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np

Kind = Literal["numeric", "categorical"]
KINDS: tuple[Kind, ...] = ("numeric", "categorical")


def _is_arrow(table: Any) -> bool:
    return type(table).__module__.startswith("pyarrow") and hasattr(table, "column_names")


def _is_pandas(table: Any) -> bool:
    return type(table).__module__.startswith("pandas") and hasattr(table, "dtypes")


def check_table(table: Any) -> None:
    """Raise :class:`InvalidInput` unless ``table`` is a pandas DataFrame or a pyarrow Table."""
    if not (_is_arrow(table) or _is_pandas(table)):
        raise InvalidInput(
            f"expected a pandas DataFrame or a pyarrow Table, got {type(table).__name__}; "
            "convert it first (pandas.DataFrame(...) or pyarrow.table(...))",
            field="table",
        )


def column_names(table: Any) -> list[str]:
    """The table's column names, in order."""
    if _is_arrow(table):
        return list(table.column_names)
    return [str(c) for c in table.columns]


def row_count(table: Any) -> int:
    """How many rows the table has."""
    return int(table.num_rows) if _is_arrow(table) else len(table)


def _unsupported(name: str, dtype: object) -> InvalidInput:
    return InvalidInput(
        f"column {name!r} has type {dtype}, which is neither numeric nor categorical; convert "
        "it (for a date, to a number such as days since an origin) or leave it out with columns=",
        field=name,
    )


def detect_kind(table: Any, name: str) -> Kind:
    """``"numeric"`` for integer, float and decimal columns; ``"categorical"`` for strings,
    booleans and dictionary (pandas ``category``) columns.

    Raises:
        InvalidInput: dates, times, durations, lists, structs and binary columns, naming the column.
    """
    if _is_arrow(table):
        import pyarrow as pa

        t = table.schema.field(name).type
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            return "numeric"
        if (
            pa.types.is_boolean(t)
            or pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or pa.types.is_dictionary(t)
            or pa.types.is_null(t)
        ):
            return "categorical"
        raise _unsupported(name, t)
    import pandas as pd

    dtype = table[name].dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_complex_dtype(dtype):
        raise _unsupported(name, dtype)
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if (
        pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype | pd.IntervalDtype)
    ):
        raise _unsupported(name, dtype)
    return "categorical"


def numeric_values(table: Any, name: str) -> np.ndarray:
    """The column as float64 values, NaN where a value is null.

    Raises:
        InvalidInput: a value cannot be read as a number (the column was declared numeric but
            holds text), naming the column.
    """
    import numpy as np

    if _is_arrow(table):
        import pyarrow as pa
        import pyarrow.compute as pc

        column = table.column(name)
        if column.type != pa.float64():
            try:
                column = pc.cast(column, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InvalidInput(
                    f"column {name!r} is treated as numeric but holds values of type "
                    f"{column.type} that are not numbers; declare it categorical=[{name!r}]",
                    field=name,
                ) from exc
        return np.asarray(column.to_numpy(), dtype=np.float64)
    import pandas as pd

    series = table[name]
    if series.dtype == np.float64:
        return np.asarray(series.to_numpy())
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan))
    try:
        converted = pd.to_numeric(series, errors="raise")
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"column {name!r} is treated as numeric but holds values of type {series.dtype} "
            f"that are not numbers; declare it categorical=[{name!r}]",
            field=name,
        ) from exc
    return np.asarray(pd.Series(converted).to_numpy(dtype=np.float64, na_value=np.nan))


def category_counts(table: Any, name: str) -> tuple[dict[str, int], int]:
    """Rows per category (keyed by the category's text) and the number of null rows.

    A float NaN counts as null. Numbers read as categories keep their text form: ``1`` is
    ``"1"`` and ``1.5`` is ``"1.5"``.
    """
    counts: dict[str, int] = {}
    if _is_arrow(table):
        import pyarrow.compute as pc

        column = table.column(name)
        found = pc.value_counts(column)
        for value, count in zip(
            found.field("values").to_pylist(), found.field("counts").to_pylist(), strict=True
        ):
            if value is None or (isinstance(value, float) and value != value):
                continue
            key = str(value)
            counts[key] = counts.get(key, 0) + int(count)
        return counts, int(table.num_rows) - sum(counts.values())
    series = table[name]
    found = series.value_counts(dropna=True, sort=False)
    for value, count in zip(found.index.tolist(), found.tolist(), strict=True):
        if count:
            key = str(value)
            counts[key] = counts.get(key, 0) + int(count)
    return counts, len(series) - sum(counts.values())
