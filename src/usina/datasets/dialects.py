"""Portable SQL: a DuckDB query as BigQuery (or another engine's) SQL, through sqlglot.

A construct sqlglot cannot express in the target raises (``unsupported_level=RAISE``) rather
than being dropped or passed through silently, so a query that would mean something else on
BigQuery fails here, naming the construct.

    >>> print(transpile("select plan, count(*) as n from applications group by plan"))
    SELECT plan, COUNT(*) AS n FROM applications GROUP BY plan
    >>> transpile("select * from t asof join u on t.ts >= u.ts")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    usina.errors.InvalidInput: the query has no bigquery translation: ASOF JOIN; ...
"""

from __future__ import annotations

from typing import Any

from usina.errors import InvalidInput

SOURCE = "duckdb"
TARGETS = ("bigquery", "duckdb", "postgres", "snowflake", "spark")


def transpile(query: str, dialect: str = "bigquery", *, pretty: bool = False) -> str:
    """``query`` (DuckDB SQL, one or more statements) translated to ``dialect``.

    Raises:
        InvalidInput: ``dialect`` is unknown (``field="dialect"``), or the query cannot be
            parsed or holds a construct the target has no translation for (``field="query"``;
            the message names the construct).
    """
    if dialect not in TARGETS:
        raise InvalidInput(
            f"dialect {dialect!r} is not one of {', '.join(TARGETS)}", field="dialect"
        )
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput("the query is empty", field="query")
    import sqlglot
    from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

    if dialect != SOURCE:
        try:
            trees = sqlglot.parse(query, read=SOURCE)
        except ParseError as exc:
            raise InvalidInput(
                f"the query cannot be parsed: {_first_line(exc)}", field="query"
            ) from None
        for tree in trees:
            construct = untranslatable(tree, dialect) if tree is not None else None
            if construct:
                raise InvalidInput(
                    f"the query has no {dialect} translation: {construct}; rewrite that part "
                    "in portable SQL",
                    field="query",
                )
    try:
        statements = sqlglot.transpile(
            query,
            read=SOURCE,
            write=dialect,
            pretty=pretty,
            unsupported_level=ErrorLevel.RAISE,
        )
    except UnsupportedError as exc:
        raise InvalidInput(
            f"the query has no {dialect} translation: {_first_line(exc)}; rewrite that part "
            "in portable SQL",
            field="query",
        ) from None
    except ParseError as exc:
        raise InvalidInput(
            f"the query cannot be parsed: {_first_line(exc)}", field="query"
        ) from None
    return ";\n".join(statements)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def untranslatable(tree: Any, dialect: str) -> str | None:
    """The first construct in ``tree`` that sqlglot would pass through unchanged although the
    target has no such thing (it would fail there, or mean something else): DuckDB's ASOF
    joins, lambdas and file readers, any function sqlglot does not know (it copies the call
    as written), and for BigQuery median() and quantile_cont() as aggregates (BigQuery has
    PERCENTILE_CONT only as a window function)."""
    from sqlglot import exp

    for node in tree.walk():
        if isinstance(node, exp.Join) and str(node.args.get("method") or "").upper() == "ASOF":
            return "ASOF JOIN"
        if isinstance(node, exp.Lambda):
            return "a lambda (x -> ...)"
        if isinstance(node, exp.ReadParquet | exp.ReadCSV):
            return f"the file reader {node.sql('duckdb').split('(')[0]}()"
        if isinstance(node, exp.Anonymous):
            return f"the function {str(node.this).lower()}(), which sqlglot cannot translate"
        if dialect == "bigquery":
            if isinstance(node, exp.Median):
                return "median() (use approx_quantiles or a window PERCENTILE_CONT)"
            if isinstance(node, exp.PercentileCont | exp.PercentileDisc) and not isinstance(
                node.parent, exp.Window
            ):
                return "quantile_cont() as an aggregate (BigQuery has it as a window function)"
    return None
