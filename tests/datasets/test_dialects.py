"""Portable SQL: the project's own DuckDB queries translated to BigQuery, compared with the
checked-in translations under golden/bigquery (a file holding ``error: ...`` is a query that
must be refused with that message, naming the construct with no translation). After a
deliberate change, rewrite a golden file with the output the failure prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from usina.datasets.dialects import transpile
from usina.errors import InvalidInput

GOLDEN = Path(__file__).parent / "golden"
QUERIES = sorted((GOLDEN / "queries").glob("*.sql"))


@pytest.mark.parametrize("query", QUERIES, ids=[q.stem for q in QUERIES])
def test_the_projects_queries_translate_to_bigquery_as_checked_in(query: Path) -> None:
    try:
        got = transpile(query.read_text(), "bigquery", pretty=True) + "\n"
    except InvalidInput as exc:
        got = f"error: {exc}\n"
    expected = GOLDEN / "bigquery" / query.name
    assert expected.exists(), f"no golden translation for {query.name}; it would be:\n{got}"
    assert got == expected.read_text(), f"{query.name} now translates to:\n{got}"


def test_every_golden_translation_has_its_query() -> None:
    assert {p.name for p in (GOLDEN / "bigquery").glob("*.sql")} == {q.name for q in QUERIES}
    assert len(QUERIES) >= 9


@pytest.mark.parametrize(
    ("query", "construct"),
    [
        ("select * from t asof join u on t.ts >= u.ts", "ASOF JOIN"),
        ("select list_transform(xs, x -> x + 1) from t", "a lambda"),
        ("select * from read_parquet('scores/*.parquet')", "the file reader READ_PARQUET()"),
        ("select * from read_json_auto('a.json')", "read_json_auto()"),
    ],
)
def test_a_construct_with_no_translation_is_refused_by_name(query: str, construct: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        transpile(query, "bigquery")
    assert construct in str(refused.value) and refused.value.field == "query"


def test_bad_queries_and_dialects_are_refused() -> None:
    with pytest.raises(InvalidInput, match="cannot be parsed"):
        transpile("select from where", "bigquery")
    with pytest.raises(InvalidInput) as unknown:
        transpile("select 1", "oracle")
    assert unknown.value.field == "dialect"
