"""Expectations: what a dataset's versions must satisfy, declared as data and checked against a
version's profile (and, for allowed categories and uniqueness, its rows).

Each expectation is a JSON object with a ``kind``:

=============  ==========================================================================
kind           fields
=============  ==========================================================================
schema         ``columns`` {name: type} that must exist with that type; ``exact`` (no others)
row_count      ``min`` and/or ``max`` rows
volume         ``max_drop`` and/or ``max_growth``: the change against the previous version,
               as a fraction (``max_drop: 0.3`` fails a version with 30% fewer rows or less)
nulls          ``column`` and ``max_rate`` (0 = no nulls)
range          ``column`` and ``min`` and/or ``max`` (every value within)
categories     ``column`` and ``allowed`` (a list of strings)
unique         ``columns``: one or more columns whose values (together) never repeat
freshness      ``column`` (a timestamp) and ``max_age`` (``90s``, ``30m``, ``6h``, ``2d``):
               its newest value is at most that old when checked
=============  ==========================================================================

    >>> specs = check_expectations([{"kind": "row_count", "min": 10}])
    >>> report = evaluate(specs, "applications", 2, rows=5, profile={}, previous_rows=None)
    >>> report.ok, report.failures[0].observed
    (False, 5)
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from usina.errors import InvalidInput, UsinaError

KINDS: dict[str, tuple[set[str], set[str]]] = {
    # kind: (required fields, optional fields)
    "schema": ({"columns"}, {"exact"}),
    "row_count": (set(), {"min", "max"}),
    "volume": (set(), {"max_drop", "max_growth"}),
    "nulls": ({"column", "max_rate"}, set()),
    "range": ({"column"}, {"min", "max"}),
    "categories": ({"column", "allowed"}, set()),
    "unique": ({"columns"}, set()),
    "freshness": ({"column", "max_age"}, set()),
}
MAX_EXPECTATIONS = 200
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ExpectationFailed(UsinaError):
    """A dataset version does not meet its dataset's expectations; ``report`` names each one
    that failed with the value observed."""

    code = "expectation_failed"

    def __init__(self, report: Report) -> None:
        super().__init__(report.summary(), field="expectations")
        self.report = report


@dataclass(frozen=True)
class Result:
    """One expectation checked: what was expected, what was observed, and whether it held."""

    kind: str
    column: str
    expected: str
    observed: Any
    passed: bool


@dataclass(frozen=True)
class Report:
    """Every expectation of a dataset checked against one version."""

    dataset: str
    version: int
    results: tuple[Result, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if not r.passed]

    def summary(self) -> str:
        """One line per failed expectation, with what was observed."""
        if self.ok:
            return f"dataset {self.dataset} v{self.version}: {len(self.results)} expectation(s) met"
        lines = [
            f"dataset {self.dataset} v{self.version} fails {len(self.failures)} of "
            f"{len(self.results)} expectation(s):"
        ]
        for r in self.failures:
            where = f" {r.column}" if r.column else ""
            lines.append(f"  {r.kind}{where}: expected {r.expected}, observed {r.observed}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "version": self.version,
            "ok": self.ok,
            "results": [r.__dict__ for r in self.results],
        }


def parse_duration(value: Any, name: str = "max_age") -> float:
    """``90s``, ``30m``, ``6h``, ``2d`` (or a number of seconds) in seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    found = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if found is None or float(found.group(1)) <= 0:
        raise InvalidInput(
            f"{name} {value!r} is not a duration; write 90s, 30m, 6h or 2d", field=name
        )
    return float(found.group(1)) * _UNIT[found.group(2)]


def _number(
    spec: dict[str, Any], key: str, *, fraction: bool = False, required: bool = False
) -> None:
    value = spec.get(key)
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{spec['kind']}: {key} must be a number", field=key)
    if fraction and not value >= 0:
        raise InvalidInput(f"{spec['kind']}: {key} must be 0 or more (a fraction)", field=key)


def check_expectations(specs: Any) -> tuple[dict[str, Any], ...]:
    """Check a list of expectations; returns them as plain dicts.

    Raises:
        InvalidInput: an unknown kind, a missing or unknown field, a value of the wrong type
            (the message names the expectation and the field).
    """
    if not isinstance(specs, list | tuple):
        raise InvalidInput("expectations must be a list of objects", field="expectations")
    if len(specs) > MAX_EXPECTATIONS:
        raise InvalidInput(
            f"at most {MAX_EXPECTATIONS} expectations per dataset", field="expectations"
        )
    checked = []
    for i, spec in enumerate(specs):
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if not isinstance(kind, str) or kind not in KINDS:
            raise InvalidInput(
                f"expectation {i + 1} needs a kind, one of {', '.join(KINDS)}",
                field="kind",
            )
        required, optional = KINDS[kind]
        missing = required - set(spec)
        unknown = set(spec) - required - optional - {"kind"}
        if missing:
            raise InvalidInput(
                f"expectation {i + 1} ({kind}) needs {', '.join(sorted(missing))}",
                field=sorted(missing)[0],
            )
        if unknown:
            raise InvalidInput(
                f"expectation {i + 1} ({kind}) has unknown field(s) "
                f"{', '.join(sorted(unknown))}; its fields are "
                f"{', '.join(sorted(required | optional))}",
                field=sorted(unknown)[0],
            )
        if kind in ("row_count", "volume", "range") and not (set(spec) & optional):
            raise InvalidInput(
                f"expectation {i + 1} ({kind}) needs {' or '.join(sorted(optional))}",
                field=sorted(optional)[0],
            )
        if "column" in spec and (not isinstance(spec["column"], str) or not spec["column"]):
            raise InvalidInput(f"expectation {i + 1} ({kind}): column is a name", field="column")
        if kind == "schema":
            columns = spec["columns"]
            if (
                not isinstance(columns, dict)
                or not columns
                or not all(isinstance(k, str) and isinstance(v, str) for k, v in columns.items())
            ):
                raise InvalidInput(
                    'schema: columns maps column names to types ({"age": "int64"})',
                    field="columns",
                )
            if not isinstance(spec.get("exact", False), bool):
                raise InvalidInput("schema: exact is true or false", field="exact")
        elif kind == "row_count":
            _number(spec, "min")
            _number(spec, "max")
        elif kind == "volume":
            _number(spec, "max_drop", fraction=True)
            _number(spec, "max_growth", fraction=True)
        elif kind == "nulls":
            _number(spec, "max_rate", fraction=True, required=True)
        elif kind == "range":
            _number(spec, "min")
            _number(spec, "max")
        elif kind == "categories":
            allowed = spec["allowed"]
            if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
                raise InvalidInput("categories: allowed is a list of strings", field="allowed")
        elif kind == "unique":
            columns = spec["columns"]
            if isinstance(columns, str):
                spec = {**spec, "columns": [columns]}
            elif (
                not isinstance(columns, list)
                or not columns
                or not all(isinstance(c, str) for c in columns)
            ):
                raise InvalidInput("unique: columns is a list of column names", field="columns")
        elif kind == "freshness":
            parse_duration(spec["max_age"])
        checked.append(dict(spec))
    return tuple(checked)


# Counts only the rows can give: (kind, column(s)) -> the number of offending rows.
RowCheck = Callable[[dict[str, Any]], int]


def evaluate(
    specs: Sequence[dict[str, Any]],
    dataset: str,
    version: int,
    *,
    rows: int,
    profile: dict[str, Any],
    previous_rows: int | None,
    schema: Sequence[dict[str, str]] = (),
    count_rows: RowCheck | None = None,
    now: float | None = None,
) -> Report:
    """Check ``specs`` against a version described by its rows, schema and profile.

    ``count_rows`` answers the two kinds a profile cannot (categories, unique) by counting the
    offending rows; without it those are checked from the profile's top categories only.
    """
    types = {c["name"]: c["type"] for c in schema} or {
        k: v.get("type", "") for k, v in profile.items()
    }
    at = time.time() if now is None else now
    results = []
    for spec in specs:
        kind = spec["kind"]
        column = spec.get("column", "")
        col = profile.get(column, {}) if column else {}
        if column and column not in types:
            results.append(Result(kind, column, "the column to exist", "missing", False))
            continue
        if kind == "schema":
            for name, wanted in spec["columns"].items():
                got = types.get(name, "missing")
                results.append(Result(kind, name, f"type {wanted}", got, got == wanted))
            if spec.get("exact"):
                extra = sorted(set(types) - set(spec["columns"]))
                results.append(
                    Result(kind, "", "no other columns", ", ".join(extra) or "none", not extra)
                )
        elif kind == "row_count":
            low, high = spec.get("min"), spec.get("max")
            ok = (low is None or rows >= low) and (high is None or rows <= high)
            results.append(Result(kind, "", _between(low, high, "rows"), rows, ok))
        elif kind == "volume":
            if not previous_rows:
                results.append(Result(kind, "", "a previous version", "none (first)", True))
                continue
            change = (rows - previous_rows) / previous_rows
            drop, growth = spec.get("max_drop"), spec.get("max_growth")
            ok = (drop is None or -change < drop) and (growth is None or change < growth)
            wanted = []
            if drop is not None:
                wanted.append(f"a drop under {drop:.0%}")
            if growth is not None:
                wanted.append(f"growth under {growth:.0%}")
            observed = f"{change:+.1%} ({previous_rows:,} -> {rows:,} rows)"
            results.append(Result(kind, "", " and ".join(wanted), observed, ok))
        elif kind == "nulls":
            rate = col.get("nulls", 0) / rows if rows else 0.0
            ok = rate <= spec["max_rate"]
            results.append(
                Result(kind, column, f"null rate <= {spec['max_rate']:g}", round(rate, 6), ok)
            )
        elif kind == "range":
            low, high = spec.get("min"), spec.get("max")
            lo, hi = col.get("min"), col.get("max")
            if not isinstance(lo, int | float) or not isinstance(hi, int | float):
                ok = lo is None and hi is None  # only nulls: nothing out of range
                results.append(Result(kind, column, "a numeric column", types[column], ok))
                continue
            ok = (low is None or lo >= low) and (high is None or hi <= high)
            results.append(
                Result(kind, column, _between(low, high, "values"), f"[{lo:g}, {hi:g}]", ok)
            )
        elif kind == "categories":
            allowed = set(spec["allowed"])
            if count_rows is not None:
                bad = count_rows(spec)
                seen = [v for v, _ in col.get("top", []) if v not in allowed][:5]
                observed = f"{bad:,} row(s) outside" + (f" ({', '.join(seen)})" if seen else "")
                results.append(Result(kind, column, f"only {sorted(allowed)}", observed, bad == 0))
            else:
                seen = [v for v, _ in col.get("top", []) if v not in allowed]
                results.append(
                    Result(kind, column, f"only {sorted(allowed)}", seen or "none", not seen)
                )
        elif kind == "unique":
            names = spec["columns"]
            gone = [c for c in names if c not in types]
            label = ", ".join(names)
            if gone:
                results.append(Result(kind, label, "the columns to exist", "missing", False))
                continue
            if count_rows is None:
                results.append(Result(kind, label, "no repeated values", "not checked", True))
                continue
            repeats = count_rows(spec)
            results.append(
                Result(kind, label, "no repeated values", f"{repeats:,} repeated", repeats == 0)
            )
        elif kind == "freshness":
            newest = col.get("max_epoch")
            limit = parse_duration(spec["max_age"])
            if newest is None:
                results.append(Result(kind, column, "a timestamp column", types[column], False))
                continue
            age = at - float(newest)
            results.append(
                Result(
                    kind,
                    column,
                    f"newest value at most {spec['max_age']} old",
                    f"{_age(age)} old",
                    age <= limit,
                )
            )
    return Report(dataset, version, tuple(results))


def _between(low: Any, high: Any, what: str) -> str:
    if low is not None and high is not None:
        return f"{what} in [{low:g}, {high:g}]"
    if low is not None:
        return f"{what} >= {low:g}"
    return f"{what} <= {high:g}"


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
