"""The input check of an all-float signature: what it accepts becomes the model's matrix, and
every bad value is refused naming its field, whichever way the row was sent."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from usina.errors import InvalidInput
from usina.registry import Column, Signature
from usina.serving.inputs import InputCheck

CHECK = InputCheck(Signature((Column("a", "double"), Column("b", "double"), Column("c", "float"))))


@pytest.mark.parametrize(
    "rows",
    [
        [{"a": 1.5, "b": 2, "c": -3.0}],
        [[1.5, 2, -3.0]],
        [{"c": -3.0, "a": 1.5, "b": 2}],  # any key order
        [[1.5, 2, -3.0], {"a": 1.5, "b": 2, "c": -3.0}],  # both shapes in one request
    ],
)
def test_good_rows_become_the_float_matrix(rows: list[Any]) -> None:
    built = CHECK.records(rows, "instances")
    assert built.rows == len(rows)
    assert built.data.dtype == np.float64
    assert built.data.tolist() == [[1.5, 2.0, -3.0]] * len(rows)


def test_finite_values_whose_sum_overflows_are_accepted() -> None:
    built = CHECK.records([[1e308, 1e308, 0.0]], "instances")
    assert built.data.tolist() == [[1e308, 1e308, 0.0]]


@pytest.mark.parametrize(
    ("row", "field", "says"),
    [
        ({"a": float("nan"), "b": 1.0, "c": 1.0}, "instances", "NaN or infinite"),
        ([1.0, float("inf"), 1.0], "instances", "NaN or infinite"),
        ([1.0, float("-inf"), float("inf")], "instances", "NaN or infinite"),
        ({"a": 1.0, "b": True, "c": 1.0}, "b", "needs a number"),
        ({"a": 1.0, "b": "2", "c": 1.0}, "b", "needs a number"),
        ({"a": 1.0, "b": None, "c": 1.0}, "b", "is null"),
        ([1.0, 2.0, 10**400], "instances", "too large"),
        ({"a": 1.0, "b": 2.0}, "c", "missing field 'c'"),
        ({"a": 1.0, "b": 2.0, "z": 3.0}, "c", "unknown field 'z'"),
        ({"a": 1.0, "b": 2.0, "c": 3.0, "z": 3.0}, "z", "unknown field 'z'"),
        ([1.0, 2.0], "instances[1]", "has 2 values"),
        ("1,2,3", "instances[1]", "must be an object"),
    ],
)
def test_a_bad_value_is_refused_naming_its_field(row: Any, field: str, says: str) -> None:
    # The bad row comes second, after a good one, so the error names its index.
    with pytest.raises(InvalidInput) as refused:
        CHECK.records([[0.0, 0.0, 0.0], row], "instances")
    assert refused.value.field == field
    assert says in str(refused.value)
