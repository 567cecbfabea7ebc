"""Each kind of expectation, met and failed, on real versions: a failure names the
expectation and the value observed, and a malformed expectation is refused naming its field."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pyarrow as pa
import pytest

import usina.datasets as ds
from usina.datasets.expectations import check_expectations, evaluate
from usina.errors import InvalidInput

_names = itertools.count()
NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def table(rows: int = 100, **change: Any) -> pa.Table:
    columns: dict[str, Any] = {
        "id": list(range(rows)),
        "age": [18 + i % 60 for i in range(rows)],
        "plan": ["abc"[i % 3] for i in range(rows)],
        "income": [None if i % 10 == 0 else 1000.0 + i for i in range(rows)],
        "seen_at": [NOW - dt.timedelta(hours=i) for i in range(rows)],
    }
    columns.update(change)
    return pa.table(columns)


def check(client: Any, spec: dict[str, Any], data: pa.Table) -> ds.Report:
    """Save ``data`` as a fresh dataset's only version, then validate it against ``spec``."""
    name = f"check-{next(_names)}"
    ds.save(data, name, client=client)
    ds.expect(name, spec, client=client)
    return ds.validate(name, client=client)


def observed(report: ds.Report) -> list[tuple[str, str, Any]]:
    return [(r.kind, r.column, r.observed) for r in report.failures]


def test_schema_and_types(client) -> None:
    ok = {"kind": "schema", "columns": {"id": "int64", "plan": "string"}}
    assert check(client, ok, table()).ok
    wrong = {"kind": "schema", "columns": {"id": "string", "score": "double"}, "exact": True}
    report = check(client, wrong, table())
    assert observed(report) == [
        ("schema", "id", "int64"),
        ("schema", "score", "missing"),
        ("schema", "", "age, income, plan, seen_at"),
    ]


def test_row_count_range(client) -> None:
    assert check(client, {"kind": "row_count", "min": 50, "max": 100}, table()).ok
    report = check(client, {"kind": "row_count", "min": 500}, table())
    assert observed(report) == [("row_count", "", 100)]
    assert "row_count: expected rows >= 500, observed 100" in report.summary()


def test_volume_change_against_the_previous_version(client) -> None:
    ds.expect("volume", {"kind": "volume", "max_drop": 0.3, "max_growth": 1.0}, client=client)
    ds.save(table(100), "volume", client=client)  # the first version has nothing to drop from
    ds.save(table(80), "volume", client=client)  # -20%: within
    with pytest.raises(ds.ExpectationFailed) as failed:
        ds.save(table(50), "volume", client=client)
    [result] = failed.value.report.failures
    assert result.observed == "-37.5% (80 -> 50 rows)"
    with pytest.raises(ds.ExpectationFailed, match=r"growth under 100%, observed \+150.0%"):
        ds.save(table(200), "volume", client=client)
    assert client.datasets.get("volume").latest == 2
    assert ds.validate("volume/2", client=client).ok


def test_null_rate(client) -> None:
    assert check(client, {"kind": "nulls", "column": "income", "max_rate": 0.1}, table()).ok
    report = check(client, {"kind": "nulls", "column": "income", "max_rate": 0}, table())
    assert observed(report) == [("nulls", "income", 0.1)]


def test_value_range(client) -> None:
    assert check(client, {"kind": "range", "column": "age", "min": 18, "max": 77}, table()).ok
    report = check(client, {"kind": "range", "column": "age", "min": 21}, table())
    assert observed(report) == [("range", "age", "[18, 77]")]


def test_allowed_categories_count_every_row(client) -> None:
    spec = {"kind": "categories", "column": "plan", "allowed": ["a", "b", "c"]}
    assert check(client, spec, table()).ok
    # One stray row among eleven categories: counted though it is not a top category.
    plans = [f"p{i % 11}" for i in range(99)] + ["zzz"]
    allowed = [f"p{i}" for i in range(11)]
    report = check(client, {**spec, "allowed": allowed}, table(plan=plans))
    assert observed(report) == [("categories", "plan", "1 row(s) outside")]


def test_unique_columns(client) -> None:
    assert check(client, {"kind": "unique", "columns": ["id"]}, table()).ok
    report = check(client, {"kind": "unique", "columns": ["plan", "age"]}, table())
    # plan and age repeat together every 60 rows (60 is a multiple of 3): 40 repeats.
    assert observed(report) == [("unique", "plan, age", "40 repeated")]


def test_freshness_of_a_timestamp_column(client) -> None:
    assert check(client, {"kind": "freshness", "column": "seen_at", "max_age": "1h"}, table()).ok
    stale = table(seen_at=[NOW - dt.timedelta(days=3, hours=i) for i in range(100)])
    report = check(client, {"kind": "freshness", "column": "seen_at", "max_age": "2d"}, stale)
    assert observed(report) == [("freshness", "seen_at", "3.0d old")]


def test_an_expectation_on_a_missing_column_fails_naming_it(client) -> None:
    report = check(client, {"kind": "nulls", "column": "salary", "max_rate": 0}, table())
    assert observed(report) == [("nulls", "salary", "missing")]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"kind": "sizes"}, "kind"),
        ({"kind": "volume"}, "max_drop"),
        ({"kind": "volume", "max_drop": "30%"}, "max_drop"),
        ({"kind": "nulls", "column": "age"}, "max_rate"),
        ({"kind": "range", "column": "age", "low": 1}, "low"),
        ({"kind": "categories", "column": "plan", "allowed": "a,b"}, "allowed"),
        ({"kind": "unique", "columns": []}, "columns"),
        ({"kind": "freshness", "column": "seen_at", "max_age": "soon"}, "max_age"),
        ({"kind": "schema", "columns": ["id"]}, "columns"),
    ],
)
def test_malformed_expectations_are_refused_naming_the_field(spec, field) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_expectations([spec])
    assert refused.value.field == field


def test_the_report_lists_every_expectation_with_its_observed_value() -> None:
    specs = check_expectations(
        [{"kind": "row_count", "min": 1}, {"kind": "nulls", "column": "age", "max_rate": 0}]
    )
    profile = {"age": {"type": "int64", "nulls": 5}}
    report = evaluate(specs, "d", 2, rows=10, profile=profile, previous_rows=None)
    assert report.to_dict()["results"] == [
        {
            "kind": "row_count",
            "column": "",
            "expected": "rows >= 1",
            "observed": 10,
            "passed": True,
        },
        {
            "kind": "nulls",
            "column": "age",
            "expected": "null rate <= 0",
            "observed": 0.5,
            "passed": False,
        },
    ]
