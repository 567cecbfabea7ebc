"""Summaries: quantile bins and top categories, merging windows, JSON, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.synthetic import frame
from usina.errors import InvalidInput
from usina.monitoring import (
    CategoricalSummary,
    IncompatibleSummaries,
    NumericSummary,
    Summary,
    summarize,
)


def test_numeric_edges_are_the_reference_quantiles_and_its_outer_bins_are_empty() -> None:
    values = np.random.default_rng(0).normal(size=10_001)
    summary = summarize(pd.DataFrame({"x": values}))
    x = summary["x"]
    assert isinstance(x, NumericSummary)
    quantiles = np.quantile(values, np.arange(20) / 20, method="lower")
    assert np.array_equal(x.edges[:-1], quantiles)
    assert x.edges[-1] > values.max() and x.edges[-1] == np.nextafter(values.max(), np.inf)
    assert len(x.counts) == 22 and x.counts[0] == 0 and x.counts[-1] == 0
    expected = [
        ((values >= lo) & (values < hi)).sum() for lo, hi in zip(x.edges, x.edges[1:], strict=False)
    ]
    assert list(x.counts[1:-1]) == expected
    assert x.mean == pytest.approx(values.mean()) and x.std == pytest.approx(values.std())


def test_current_values_outside_the_reference_range_land_in_the_outer_bins() -> None:
    reference = summarize(pd.DataFrame({"x": np.arange(100.0)}))
    window = summarize(pd.DataFrame({"x": [-5.0, -1.0, 50.0, 99.0, 120.0]}), reference=reference)
    counts = window["x"].counts
    assert counts[0] == 2 and counts[-1] == 1 and sum(counts) == 5
    assert window["x"].below_sum == -6.0 and window["x"].above_sum == 120.0  # type: ignore[union-attr]


def test_few_distinct_values_get_one_bin_each() -> None:
    values = np.random.default_rng(1).integers(0, 3, 1000).astype(float)
    x = summarize(pd.DataFrame({"x": values}))["x"]
    assert isinstance(x, NumericSummary)
    assert x.distinct == 3 and x.edges[:3] == (0.0, 1.0, 2.0)
    assert list(x.counts[1:4]) == [int((values == v).sum()) for v in (0, 1, 2)]


def test_categories_keep_the_top_k_and_count_the_rest_as_other() -> None:
    values = ["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 4 + ["e"] + [None] * 7
    summary = summarize(pd.DataFrame({"c": values}), top_k=3)
    c = summary["c"]
    assert isinstance(c, CategoricalSummary)
    assert c.categories == ("a", "b", "c") and c.counts == (50, 30, 15)
    assert c.other == 5 and c.missing == 7 and c.known == ("d", "e") and c.complete
    window = summarize(pd.DataFrame({"c": ["a", "d", "z", "z", None]}), reference=summary)
    w = window["c"]
    assert isinstance(w, CategoricalSummary)
    assert w.counts == (1, 0, 0) and w.other == 3 and w.missing == 1
    assert dict(w.unseen) == {"z": 2} and w.unseen_rows == 2


def test_types_are_detected_and_can_be_overridden() -> None:
    df = pd.DataFrame(
        {
            "n": [1, 2, 3],
            "f": [0.5, None, 2.0],
            "s": ["x", "y", "x"],
            "b": [True, False, True],
            "code": [10, 20, 10],
            "digits": ["1", "2", "3"],
        }
    )
    s = summarize(df, categorical=["code"], numeric=["digits"])
    kinds = {f.name: f.kind for f in s}
    assert kinds == {
        "n": "numeric",
        "f": "numeric",
        "s": "categorical",
        "b": "categorical",
        "code": "categorical",
        "digits": "numeric",
    }
    assert s["f"].missing == 1
    assert s["code"].categories == ("10", "20")  # type: ignore[union-attr]


def test_arrow_tables_give_the_same_summary_as_pandas() -> None:
    df = frame(3000, 4, True)
    assert summarize(pa.Table.from_pandas(df), prediction="score") == summarize(
        df, prediction="score"
    )


def test_two_halves_merge_into_the_whole() -> None:
    reference = summarize(frame(5000, 1, False), prediction="score")
    window = frame(4000, 2, True)
    whole = summarize(window, reference=reference)
    halves = summarize(window.iloc[:1500], reference=reference).merge(
        summarize(window.iloc[1500:], reference=reference)
    )
    assert halves.rows == whole.rows == 4000
    for a, b in zip(halves, whole, strict=True):
        da, db = a.to_dict(), b.to_dict()
        for key in ("sum", "sum_squares", "below_sum", "above_sum"):
            if key in da:
                assert da.pop(key) == pytest.approx(db.pop(key))
        assert da == db


def test_windows_against_different_references_do_not_merge() -> None:
    first = summarize(frame(1000, 1, False))
    second = summarize(frame(1000, 2, False))
    with pytest.raises(
        IncompatibleSummaries, match=r"column .stable.: the two summaries have different bins"
    ):
        first.merge(second)


def test_json_round_trip_is_exact_and_versioned() -> None:
    summary = summarize(frame(2000, 3, True), prediction="score")
    text = json.dumps(summary.to_dict())
    data = json.loads(text)
    assert data["format"] == "usina.summary" and data["version"] == 1
    assert Summary.from_dict(data) == summary
    data["version"] = 2
    with pytest.raises(InvalidInput, match="newer"):
        Summary.from_dict(data)


def test_a_summary_is_small() -> None:
    big = frame(100_000, 5, False)
    assert len(json.dumps(summarize(big).to_dict())) < 8000


# -- errors -------------------------------------------------------------------------------


def test_a_column_missing_from_the_window_is_named() -> None:
    reference = summarize(frame(500, 1, False))
    with pytest.raises(InvalidInput, match="'channel'") as caught:
        summarize(frame(500, 2, True).drop(columns=["channel"]), reference=reference)
    assert caught.value.field == "channel"


def test_empty_data_is_refused() -> None:
    with pytest.raises(InvalidInput, match="no rows"):
        summarize(pd.DataFrame({"x": pd.Series([], dtype=float)}))
    reference = summarize(frame(500, 1, False))
    with pytest.raises(InvalidInput, match="no rows"):
        summarize(frame(500, 2, True).iloc[:0], reference=reference)


def test_wrong_types_are_named() -> None:
    with pytest.raises(InvalidInput, match="pandas DataFrame or a pyarrow Table"):
        summarize([[1, 2], [3, 4]])
    dates = pd.DataFrame({"when": pd.date_range("2026-01-01", periods=3), "x": [1, 2, 3]})
    with pytest.raises(InvalidInput, match="'when'") as caught:
        summarize(dates)
    assert caught.value.field == "when"
    assert summarize(dates, columns=["x"]).names == ["x"]
    with pytest.raises(InvalidInput, match="'s'"):
        summarize(pd.DataFrame({"s": ["a", "b"]}), numeric=["s"])
    reference = summarize(pd.DataFrame({"x": [1.0, 2.0, 3.0]}))
    with pytest.raises(InvalidInput, match="'x' is numeric in the reference"):
        summarize(pd.DataFrame({"x": ["one", "two"]}), reference=reference)


def test_unknown_columns_in_arguments_are_named() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(InvalidInput, match="'y'"):
        summarize(df, columns=["y"])
    with pytest.raises(InvalidInput, match="'label'"):
        summarize(df, prediction="label")


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)), min_size=2, max_size=60
    ),
    labels=st.lists(st.sampled_from(["a", "b", "c", "new", None]), min_size=60, max_size=60),
    cut=st.integers(1, 59),
)
def test_any_split_of_a_window_merges_back_into_it(
    values: list[float | None], labels: list[str | None], cut: int
) -> None:
    reference = summarize(
        pd.DataFrame({"x": [0.0, 1.0, 2.5, 10.0] * 10, "c": ["a", "b", "a", "c"] * 10}), bins=3
    )
    rows = len(values)
    window = pd.DataFrame({"x": pd.array(values, dtype="Float64"), "c": labels[:rows]})
    cut = min(cut, rows - 1)
    whole = summarize(window, reference=reference)
    merged = summarize(window.iloc[:cut], reference=reference) + summarize(
        window.iloc[cut:], reference=reference
    )
    assert merged["x"].counts == whole["x"].counts
    assert merged["x"].missing == whole["x"].missing
    assert merged["c"] == whole["c"]
