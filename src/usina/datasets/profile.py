"""A version's profile, computed by DuckDB over its staged Parquet file before it is stored:
per column its type and null count; for numbers min, max, mean, standard deviation and
approximate quantiles; for strings min, max, an approximate distinct count and the top
categories with their counts; for timestamps and dates min, max and the newest as epoch
seconds (what freshness checks). DuckDB streams the file and spills past its memory limit,
so a profile's memory does not grow with the file.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
TOP = 10
MEMORY_LIMIT = "256MB"


def connect(scratch: str) -> Any:
    """A DuckDB connection with bounded memory, spilling to ``scratch``."""
    import duckdb

    return duckdb.connect(
        ":memory:",
        config={
            "memory_limit": MEMORY_LIMIT,
            "temp_directory": scratch,
            "preserve_insertion_order": False,
        },
    )


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def kind_of(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "numeric"
    if pa.types.is_decimal(arrow_type):
        return "numeric"
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "temporal"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    return "other"


def profile_file(connection: Any, path: str, schema: Any) -> dict[str, Any]:
    """The profile of the Parquet file at ``path`` whose Arrow schema is ``schema``."""
    table = f"read_parquet('{path.replace(chr(39), chr(39) * 2)}')"
    expressions: list[str] = ["count(*)"]
    plan: list[tuple[str, str, list[str]]] = []
    for field in schema:
        c = quote(field.name)
        kind = kind_of(field.type)
        keys = ["nulls"]
        exprs = [f"count(*) - count({c})"]
        if kind == "numeric":
            keys += ["min", "max", "mean", "std", "quantiles"]
            exprs += [
                f"min({c})::double",
                f"max({c})::double",
                f"avg({c}::double)",
                f"stddev_pop({c}::double)",
                f"approx_quantile({c}::double, {list(QUANTILES)})",
            ]
        elif kind == "boolean":
            keys += ["true"]
            exprs += [f"count_if({c})"]
        elif kind == "string":
            keys += ["min", "max", "distinct"]
            exprs += [f"min({c})", f"max({c})", f"approx_count_distinct({c})"]
        elif kind == "temporal":
            keys += ["min", "max", "max_epoch"]
            exprs += [f"min({c})", f"max({c})", f"epoch(max({c})::timestamp)"]
        plan.append((field.name, kind, keys))
        expressions += exprs
    row = connection.execute(f"select {', '.join(expressions)} from {table}").fetchall()[0]
    values = iter(row[1:])
    profile: dict[str, Any] = {}
    for (name, kind, keys), field in zip(plan, schema, strict=True):
        column: dict[str, Any] = {"type": str(field.type), "kind": kind}
        for key in keys:
            column[key] = _plain(next(values))
        if kind == "numeric" and isinstance(column.get("quantiles"), list):
            column["quantiles"] = dict(
                zip((f"{q:g}" for q in QUANTILES), column["quantiles"], strict=True)
            )
        if kind == "string":
            top = connection.sql(
                f"select {quote(name)}, count(*) as n from {table} where {quote(name)} is not "
                f"null group by 1 order by n desc, 1 limit {TOP}"
            ).fetchall()
            column["top"] = [[str(v), int(n)] for v, n in top]
        profile[name] = column
    return profile


def _plain(value: Any) -> Any:
    """A JSON value: NaN and infinities as None, decimals as floats, times as ISO text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, int | str | bool) or value is None:
        return value
    return str(value)


def count_offending(connection: Any, path: str, spec: dict[str, Any]) -> int:
    """Rows breaking a categories expectation, or repeats breaking a unique one."""
    table = f"read_parquet('{path.replace(chr(39), chr(39) * 2)}')"
    if spec["kind"] == "categories":
        c = quote(spec["column"])
        allowed = spec["allowed"]
        if not allowed:
            return int(connection.execute(f"select count({c}) from {table}").fetchall()[0][0])
        placeholders = ", ".join("?" for _ in allowed)
        query = (
            f"select count(*) from {table} where {c} is not null "
            f"and {c}::varchar not in ({placeholders})"
        )
        return int(connection.execute(query, allowed).fetchall()[0][0])
    columns = ", ".join(quote(c) for c in spec["columns"])
    query = (
        f"select coalesce(sum(n - 1), 0) from (select count(*) as n from {table} "
        f"group by {columns} having count(*) > 1)"
    )
    return int(connection.execute(query).fetchall()[0][0])
