"""Scoring Arrow record batches with a loaded version, exactly as serving scores rows.

The version is loaded by :func:`usina.serving.runtime.load_version` (the same digest check,
safe formats, feature-name handling and checked fast predictor as an endpoint), and each batch
goes through the version's :class:`~usina.serving.inputs.InputCheck` and
:meth:`LoadedVersion.predict`, so a row gets the same prediction from a batch job as from
the endpoint serving that version.

Before any row is scored, :meth:`Scorer.check_schema` compares the input's Arrow schema with the
signature: a missing column or a column of the wrong type fails the job there, naming the
column and the type it needs. Rows that pass the schema but cannot be scored one by one (a null,
a NaN or an infinity in a numeric column) are found per batch, vectorized, with a reason each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from usina.errors import InvalidInput
from usina.serving.runtime import LoadedVersion

_NEEDS = {
    "number": "a number: a double or an integer",
    "integer": "an integer",
    "string": "a string",
    "bool": "a boolean",
    "any": "any type",
}


def _accepts(kind: str, arrow_type: Any) -> bool:
    import pyarrow.types as t

    if t.is_null(arrow_type):
        return True  # an all-null column: each row is rejected as null, not the whole input
    if kind == "number":
        return bool(t.is_integer(arrow_type) or t.is_floating(arrow_type))
    if kind == "integer":
        return bool(t.is_integer(arrow_type))
    if kind == "string":
        return bool(t.is_string(arrow_type) or t.is_large_string(arrow_type))
    if kind == "bool":
        return bool(t.is_boolean(arrow_type))
    return True


def repeated_columns(partition: dict[str, str] | None) -> list[str]:
    """The output columns that hold one value per job (the version, the batch's time, the
    partition): the only ones worth a Parquet dictionary.

    The keys and the predictions are (nearly) unique per row, and a dictionary tried on them
    is thrown away once it outgrows its page: trying it took half the writer's time on 5M rows
    of an id and a prediction (0.30 µs a row, 0.14 without, and a file 30% smaller, since
    the abandoned dictionary pages are written too).
    """
    return ["model", "version", "scored_at", *(partition or {})]


@dataclass(frozen=True)
class Scored:
    """One batch's output rows, and its rejected rows with their reasons (or ``None``)."""

    output: Any
    rejects: Any | None
    # The position in the batch of the first rejected row.
    first_rejected: int = -1


class Scorer:
    """Turns input record batches into output record batches for one loaded version."""

    def __init__(
        self,
        loaded: LoadedVersion,
        keys: list[str],
        partition: dict[str, str] | None,
    ) -> None:
        self.loaded = loaded
        self.check = loaded.check
        self.keys = list(keys)
        self.partition = dict(partition or {})
        self._constant: tuple[int, dict[str, Any]] = (-1, {})
        model = loaded.model
        classes = getattr(model, "classes_", None)
        self.classes = (
            list(classes) if classes is not None and hasattr(model, "predict_proba") else []
        )

    def check_schema(self, schema: Any) -> None:
        """Fail before scoring when a column the model or the keys need is missing or mistyped.

        Raises:
            InvalidInput: naming the column (``field``) and the type it needs.
        """
        names = set(schema.names)
        for key in self.keys:
            if key not in names:
                raise InvalidInput(
                    f"key column {key!r} is not in the input; its columns are "
                    f"{', '.join(schema.names)}",
                    field=key,
                )
        check = self.check
        if not check.names:
            raise InvalidInput(
                f"model {self.loaded.info.name} v{self.loaded.version} has no signature, so its "
                "input columns are unknown; register it with an input_example",
                field="model",
            )
        for column, kind in zip(check.signature.inputs, check.kinds, strict=True):
            if column.name not in names:
                raise InvalidInput(
                    f"input column {column.name!r} is missing; the model needs it as "
                    f"{column.dtype} ({_NEEDS[kind]})",
                    field=column.name,
                )
            found = schema.field(column.name).type
            if not _accepts(kind, found):
                raise InvalidInput(
                    f"input column {column.name!r} is {found}; the model needs {column.dtype} "
                    f"({_NEEDS[kind]})",
                    field=column.name,
                )
        reserved = {"prediction", "model", "version", "scored_at", *self.partition}
        reserved |= {f"proba_{c}" for c in self.classes}
        clash = [k for k in self.keys if k in reserved]
        if clash:
            raise InvalidInput(
                f"key column {clash[0]!r} has the name of an output column; rename it in a select",
                field=clash[0],
            )

    def score(self, batch: Any) -> Scored:
        """Score one record batch; rows that cannot be scored go to ``rejects`` with a reason."""
        import pyarrow as pa

        # A numeric batch without nulls is checked once, on the matrix the model reads: when
        # every value is finite, as in nearly every batch, no row is rejected and nothing is
        # read twice. Otherwise each column is checked for the rows' reasons.
        matrix = None
        bad: np.ndarray | None = None
        if self.check.numeric and not any(batch.column(n).null_count for n in self.check.names):
            matrix = self._matrix(batch)
            if not np.isfinite(matrix).all():
                bad, reasons = self._bad_rows(batch)
        else:
            bad, reasons = self._bad_rows(batch)
        good = batch
        rejects = None
        first = -1
        if bad is not None:
            first = int(np.argmax(bad))
            keep = ~bad
            rejects = self._rejects(batch.filter(pa.array(bad)), reasons[bad])
            good = batch.filter(pa.array(keep))
            matrix = matrix[keep] if matrix is not None else None
        if good.num_rows == 0:
            return Scored(None, rejects, first)
        model_input = self._input(good, matrix)
        prediction = self.loaded.predict(model_input)
        columns: dict[str, Any] = {k: good.column(k) for k in self.keys}
        columns["prediction"] = pa.array(prediction)
        if self.classes:
            proba = np.asarray(self.loaded.model.predict_proba(model_input.data))
            for i, label in enumerate(self.classes):
                columns[f"proba_{label}"] = pa.array(proba[:, i])
        columns.update(self._stamp(good.num_rows))
        return Scored(pa.RecordBatch.from_pydict(columns), rejects, first)

    def _stamp(self, rows: int, reuse: bool = True) -> dict[str, Any]:
        import pyarrow as pa

        # The columns of one value per job are the same arrays for every scored batch of the
        # reader's size (Arrow arrays are immutable), so they are built once, not per batch.
        # Rejects, of any size, get their own.
        if reuse and self._constant[0] == rows:
            constant = self._constant[1]
        else:
            info = self.loaded.info
            constant = {
                "model": pa.repeat(info.name, rows),
                "version": pa.array(np.full(rows, info.version, dtype=np.int64)),
            }
            for key, value in self.partition.items():
                constant[key] = pa.repeat(str(value), rows)
            if reuse:
                self._constant = (rows, constant)
        now = int(time.time() * 1_000_000)
        columns = {
            "model": constant["model"],
            "version": constant["version"],
            "scored_at": pa.array(np.full(rows, now, dtype=np.int64)).cast(
                pa.timestamp("us", tz="UTC")
            ),
        }
        columns.update((key, constant[key]) for key in self.partition)
        return columns

    def _matrix(self, batch: Any) -> np.ndarray:
        """The numeric columns of the signature as one float64 matrix, in signature order."""
        names = self.check.names
        matrix = np.empty((batch.num_rows, len(names)), dtype=np.float64)
        for j, name in enumerate(names):
            matrix[:, j] = batch.column(name).to_numpy(zero_copy_only=False)
        return matrix

    def _input(self, batch: Any, matrix: np.ndarray | None) -> Any:
        """The model's input for rows that passed :meth:`_bad_rows` (so every number is
        finite); ``matrix`` when the caller has built it already."""
        check = self.check
        if check.numeric:
            if matrix is None:
                matrix = self._matrix(batch)
            return check.array(matrix, "inputs", finite=True)
        rows = [batch.column(name).to_pylist() for name in check.names]
        return check.records([list(r) for r in zip(*rows, strict=True)], "inputs")

    def _bad_rows(self, batch: Any) -> tuple[np.ndarray | None, np.ndarray]:
        """A mask of rows that cannot be scored and, per row, why (first failing column)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n = batch.num_rows
        bad: np.ndarray | None = None
        reasons = np.empty(n, dtype=object)
        for name, kind in zip(self.check.names, self.check.kinds, strict=True):
            column = batch.column(name)
            found = []  # (mask, reason), the first that holds for a row names it
            if column.null_count:
                found.append((column.is_null().to_numpy(zero_copy_only=False), f"{name} is null"))
            if kind in ("number", "integer") and pa.types.is_floating(column.type):
                finite = pc.is_finite(column).fill_null(True).to_numpy(zero_copy_only=False)
                if not finite.all():
                    found.append((~finite, f"{name} is NaN or infinite"))
            for mask, why in found:
                fresh = mask if bad is None else (mask & ~bad)
                reasons[fresh] = why
                bad = mask if bad is None else (bad | mask)
        return bad, reasons

    def _rejects(self, batch: Any, reasons: np.ndarray) -> Any:
        import pyarrow as pa

        columns: dict[str, Any] = {}
        for name in dict.fromkeys([*self.keys, *self.check.names]):
            columns[name] = batch.column(name)
        columns["reason"] = pa.array(list(reasons), pa.string())
        columns.update(self._stamp(batch.num_rows, reuse=False))
        return pa.RecordBatch.from_pydict(columns)
