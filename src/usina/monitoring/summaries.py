"""Per-feature summaries of a table: what a drift check compares, so it never rereads the data.

A numeric column becomes quantile bins (edges and counts, plus an open bin on each side for
values outside the reference's range); a categorical column becomes the counts of its top
categories plus an ``other`` count. Each also keeps its missing count. A summary is small (about
25 numbers per numeric column by default), JSON-serialisable and versioned.

The current window is summarised *against* the reference (``summarize(window, reference=ref)``)
so both share the same bins and categories: comparing them costs O(bins), and two windows'
summaries add up (``a.merge(b)``) to the summary of both windows together.

    >>> import pandas as pd
    >>> from usina.monitoring import summarize
    >>> train = pd.DataFrame({"age": [23, 35, 41, 52, 38], "plan": ["a", "b", "a", "a", "c"]})
    >>> reference = summarize(train, bins=4)
    >>> window = summarize(pd.DataFrame({"age": [30, 90], "plan": ["a", "z"]}), reference=reference)
    >>> window["age"].counts   # (below the range, 4 quantile bins, above the range)
    (0, 0, 1, 0, 0, 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from usina.errors import InvalidInput
from usina.monitoring import tables
from usina.monitoring.tables import Kind

FORMAT = "usina.summary"
VERSION = 1
DEFAULT_BINS = 20
DEFAULT_TOP_K = 20
# Names (without counts) of a reference's categories beyond the top K, kept so a new category
# can be told apart from a rare old one. Past this many, unseen categories are not alarmed on.
MAX_KNOWN = 1000


class IncompatibleSummaries(InvalidInput):
    """Two summaries cannot be merged or compared: different columns, bins or categories."""

    code = "incompatible_summaries"


@dataclass(frozen=True)
class NumericSummary:
    """A numeric column as counts in bins.

    ``edges`` e_0 < e_1 < ... < e_m cut the line into ``len(edges) + 1`` bins: bin 0 is
    (-inf, e_0), bin i is [e_{i-1}, e_i), the last is [e_m, +inf). The reference's edges are
    its quantiles, with e_0 its minimum and e_m just above its maximum, so its outer bins are
    empty and a current value outside the training range lands in one of them. When the
    reference has no more distinct values than bins, each value gets its own bin and
    ``distinct`` says how many there were.

    NaN, infinite and null values count as ``missing`` and in no bin. ``sum`` and
    ``sum_squares`` (of the values in bins) give the mean and standard deviation;
    ``below_sum`` and ``above_sum`` the mean of each outer bin (its centre for Wasserstein).
    """

    name: str
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    missing: int
    sum: float
    sum_squares: float
    minimum: float | None
    maximum: float | None
    below_sum: float = 0.0
    above_sum: float = 0.0
    distinct: int | None = None
    kind: ClassVar[Kind] = "numeric"

    @property
    def count(self) -> int:
        """Rows with a value (not missing)."""
        return sum(self.counts)

    @property
    def rows(self) -> int:
        """Every row, missing or not."""
        return self.count + self.missing

    @property
    def missing_rate(self) -> float:
        """Share of rows that are missing (0 for an empty summary)."""
        return self.missing / self.rows if self.rows else 0.0

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None

    @property
    def std(self) -> float | None:
        """Population standard deviation (ddof=0), as numpy's ``np.std`` computes it."""
        if not self.count:
            return None
        mean = self.sum / self.count
        return float(max(self.sum_squares / self.count - mean * mean, 0.0) ** 0.5)

    def merge(self, other: NumericSummary) -> NumericSummary:
        """The summary of both windows' rows together (same edges required)."""
        if not isinstance(other, NumericSummary) or other.edges != self.edges:
            raise IncompatibleSummaries(
                f"column {self.name!r}: the two summaries have different bins; summarise both "
                "windows against the same reference (summarize(window, reference=ref))",
                field=self.name,
            )
        lows = [v for v in (self.minimum, other.minimum) if v is not None]
        highs = [v for v in (self.maximum, other.maximum) if v is not None]
        return NumericSummary(
            name=self.name,
            edges=self.edges,
            counts=tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)),
            missing=self.missing + other.missing,
            sum=self.sum + other.sum,
            sum_squares=self.sum_squares + other.sum_squares,
            minimum=min(lows) if lows else None,
            maximum=max(highs) if highs else None,
            below_sum=self.below_sum + other.below_sum,
            above_sum=self.above_sum + other.above_sum,
            distinct=self.distinct if self.distinct == other.distinct else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "edges": list(self.edges),
            "counts": list(self.counts),
            "missing": self.missing,
            "sum": self.sum,
            "sum_squares": self.sum_squares,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "below_sum": self.below_sum,
            "above_sum": self.above_sum,
            "distinct": self.distinct,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericSummary:
        return cls(
            name=str(data["name"]),
            edges=tuple(float(v) for v in data["edges"]),
            counts=tuple(int(v) for v in data["counts"]),
            missing=int(data["missing"]),
            sum=float(data["sum"]),
            sum_squares=float(data["sum_squares"]),
            minimum=None if data["minimum"] is None else float(data["minimum"]),
            maximum=None if data["maximum"] is None else float(data["maximum"]),
            below_sum=float(data.get("below_sum", 0.0)),
            above_sum=float(data.get("above_sum", 0.0)),
            distinct=None if data.get("distinct") is None else int(data["distinct"]),
        )


@dataclass(frozen=True)
class CategoricalSummary:
    """A categorical column as counts of its most frequent categories.

    ``categories`` are the reference's top K, most frequent first, with their ``counts``;
    ``other`` counts every row in any other category. ``known`` names (without counts) the
    reference's remaining categories, up to 1,000; ``complete`` says whether categories and
    known together list every category the reference had. A summary made against a reference
    also counts the rows in categories the reference never had: ``unseen`` (the most frequent
    of them, by name) and ``unseen_rows`` (all of them; these rows are also in ``other``).
    Null and NaN values count as ``missing``.
    """

    name: str
    categories: tuple[str, ...]
    counts: tuple[int, ...]
    other: int
    missing: int
    known: tuple[str, ...] = ()
    complete: bool = True
    unseen: Mapping[str, int] = field(default_factory=dict)
    unseen_rows: int = 0
    kind: ClassVar[Kind] = "categorical"

    @property
    def count(self) -> int:
        """Rows with a value (not missing)."""
        return sum(self.counts) + self.other

    @property
    def rows(self) -> int:
        return self.count + self.missing

    @property
    def missing_rate(self) -> float:
        return self.missing / self.rows if self.rows else 0.0

    def merge(self, other: CategoricalSummary) -> CategoricalSummary:
        """The summary of both windows' rows together (same categories required)."""
        if (
            not isinstance(other, CategoricalSummary)
            or other.categories != self.categories
            or other.known != self.known
        ):
            raise IncompatibleSummaries(
                f"column {self.name!r}: the two summaries count different categories; "
                "summarise both windows against the same reference",
                field=self.name,
            )
        unseen = dict(self.unseen)
        for key, count in other.unseen.items():
            unseen[key] = unseen.get(key, 0) + count
        return CategoricalSummary(
            name=self.name,
            categories=self.categories,
            counts=tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)),
            other=self.other + other.other,
            missing=self.missing + other.missing,
            known=self.known,
            complete=self.complete and other.complete,
            unseen=_top(unseen, max(len(self.categories), DEFAULT_TOP_K)),
            unseen_rows=self.unseen_rows + other.unseen_rows,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "categories": list(self.categories),
            "counts": list(self.counts),
            "other": self.other,
            "missing": self.missing,
            "known": list(self.known),
            "complete": self.complete,
            "unseen": dict(self.unseen),
            "unseen_rows": self.unseen_rows,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalSummary:
        return cls(
            name=str(data["name"]),
            categories=tuple(str(v) for v in data["categories"]),
            counts=tuple(int(v) for v in data["counts"]),
            other=int(data["other"]),
            missing=int(data["missing"]),
            known=tuple(str(v) for v in data.get("known", ())),
            complete=bool(data.get("complete", True)),
            unseen={str(k): int(v) for k, v in data.get("unseen", {}).items()},
            unseen_rows=int(data.get("unseen_rows", 0)),
        )


FeatureSummary = NumericSummary | CategoricalSummary


@dataclass(frozen=True)
class Summary:
    """Every summarised column of a table, in order, and which one (if any) is the prediction.

    Index it by column name (``summary["age"]``); ``to_dict`` gives plain JSON types and
    ``Summary.from_dict`` reads them back (it refuses a newer format version).
    """

    features: tuple[FeatureSummary, ...]
    rows: int
    prediction: str | None = None

    def __getitem__(self, name: str) -> FeatureSummary:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(feature.name == name for feature in self.features)

    def __iter__(self) -> Iterator[FeatureSummary]:
        return iter(self.features)

    @property
    def names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def merge(self, other: Summary) -> Summary:
        """The summary of both windows together: counts add up column by column.

        Raises:
            IncompatibleSummaries: the columns, their kinds, bins or categories differ (both
                windows must be summarised against the same reference).
        """
        if other.names != self.names or other.prediction != self.prediction:
            raise IncompatibleSummaries(
                f"the summaries cover different columns ({self.names} and {other.names}); "
                "summarise both windows against the same reference",
                field="features",
            )
        merged = [
            a.merge(b)  # type: ignore[arg-type]
            for a, b in zip(self.features, other.features, strict=True)
        ]
        return Summary(tuple(merged), self.rows + other.rows, self.prediction)

    def __add__(self, other: Summary) -> Summary:
        return self.merge(other)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: ``json.dumps(summary.to_dict())`` works as is."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "rows": self.rows,
            "prediction": self.prediction,
            "features": [feature.to_dict() for feature in self.features],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        """Read what :meth:`to_dict` wrote.

        Raises:
            InvalidInput: not a usina summary, or one of a newer format version.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise InvalidInput(f"not a usina summary (expected format {FORMAT!r})", field="format")
        version = data.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise InvalidInput(
                f"summary format version {version!r} is newer than this usina reads "
                f"({VERSION}); upgrade usina",
                field="version",
            )
        features: list[FeatureSummary] = []
        for item in data["features"]:
            if item.get("kind") == "numeric":
                features.append(NumericSummary.from_dict(item))
            elif item.get("kind") == "categorical":
                features.append(CategoricalSummary.from_dict(item))
            else:
                raise InvalidInput(
                    f"column {item.get('name')!r} has unknown kind {item.get('kind')!r}",
                    field="kind",
                )
        return cls(tuple(features), int(data["rows"]), data.get("prediction"))


def _top(counts: Mapping[str, int], k: int) -> dict[str, int]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return dict(ranked[:k])


# -- building summaries ---------------------------------------------------------------------


def _numeric(name: str, values: Any, bins: int, like: NumericSummary | None) -> NumericSummary:
    import numpy as np

    finite = np.isfinite(values)
    kept = values if finite.all() else values[finite]
    missing = len(values) - len(kept)
    # One sort (numpy's SIMD sort) makes everything else cheap: quantiles are positions,
    # bin counts are a searchsorted of the few edges into the sorted values.
    ordered = np.sort(kept)
    n = len(ordered)
    distinct: int | None = None
    if like is not None:
        edges = np.asarray(like.edges, dtype=np.float64)
    elif n == 0:
        edges = np.empty(0)
    else:
        edges = np.unique(ordered[(np.arange(bins) * (n - 1)) // bins])
        # Fewer distinct quantiles than bins hints at few distinct values: then (and only
        # then, as it costs a pass) count them, and give each its own bin if they fit.
        if len(edges) < bins:
            change = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
            if len(change) + 1 <= bins:
                distinct = len(change) + 1
                edges = ordered[np.concatenate(([0], change))]
        edges = np.append(edges, np.nextafter(ordered[-1], np.inf))
    cut = np.searchsorted(ordered, edges, side="left")
    counts = np.diff(np.concatenate(([0], cut, [n])))
    below = ordered[: cut[0]] if len(cut) else ordered[:0]
    above = ordered[cut[-1] :] if len(cut) else ordered[:0]
    return NumericSummary(
        name=name,
        edges=tuple(float(e) for e in edges),
        counts=tuple(int(c) for c in counts),
        missing=int(missing),
        sum=float(ordered.sum()),
        # einsum, not np.dot: a BLAS call wakes BLAS's threads, which on a busy machine cost
        # milliseconds per column (ten times the sort's time, measured).
        sum_squares=float(np.einsum("i,i->", ordered, ordered)),
        minimum=float(ordered[0]) if n else None,
        maximum=float(ordered[-1]) if n else None,
        below_sum=float(below.sum()),
        above_sum=float(above.sum()),
        distinct=distinct,
    )


def _categorical(
    name: str, found: dict[str, int], missing: int, top_k: int, like: CategoricalSummary | None
) -> CategoricalSummary:
    if like is None:
        ranked = sorted(found.items(), key=lambda item: (-item[1], item[0]))
        top, rest = ranked[:top_k], ranked[top_k:]
        return CategoricalSummary(
            name=name,
            categories=tuple(key for key, _ in top),
            counts=tuple(count for _, count in top),
            other=sum(count for _, count in rest),
            missing=missing,
            known=tuple(sorted(key for key, _ in rest[:MAX_KNOWN])),
            complete=len(rest) <= MAX_KNOWN,
        )
    listed = set(like.categories)
    known = set(like.known)
    counts = tuple(found.get(key, 0) for key in like.categories)
    unseen = {k: c for k, c in found.items() if k not in listed and k not in known}
    return CategoricalSummary(
        name=name,
        categories=like.categories,
        counts=counts,
        other=sum(found.values()) - sum(counts),
        missing=missing,
        known=like.known,
        complete=like.complete,
        unseen=_top(unseen, max(len(like.categories), DEFAULT_TOP_K)),
        unseen_rows=sum(unseen.values()),
    )


def _names(argument: str, given: Iterable[str] | None, available: Sequence[str]) -> list[str]:
    names = list(given or ())
    for name in names:
        if name not in available:
            raise InvalidInput(
                f"column {name!r} (in {argument}=) is not in the table; its columns are "
                f"{list(available)}",
                field=name,
            )
    return names


def summarize(
    table: Any,
    *,
    reference: Summary | None = None,
    columns: Iterable[str] | None = None,
    numeric: Iterable[str] | None = None,
    categorical: Iterable[str] | None = None,
    prediction: str | None = None,
    bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
) -> Summary:
    """Summarise a pandas DataFrame or a pyarrow Table, column by column.

    Args:
        table: the rows (training data for a reference; a window of requests for a check).
        reference: summarise against this reference: the same columns, kinds, bin edges and
            categories, so the two can be compared and windows merged. The other arguments
            except ``table`` are then taken from the reference and must be left out.
        columns: the columns to summarise (default: every column).
        numeric: columns to treat as numeric whatever their type.
        categorical: columns to treat as categorical (an integer code, for instance).
        prediction: the column holding the model's prediction; summarised like the others and
            reported apart from the features.
        bins: quantile bins per numeric column, besides the two outer bins (default 20).
        top_k: categories counted by name per categorical column (default 20); the rest are
            counted together as ``other``.

    Raises:
        InvalidInput: the table is empty or not a DataFrame or Table, a named column is absent
            (the message names it), a column's type cannot be summarised, or a column's type
            contradicts the reference's.
    """
    tables.check_table(table)
    available = tables.column_names(table)
    rows = tables.row_count(table)
    if rows == 0:
        raise InvalidInput("the table has no rows; a summary needs at least one", field="table")
    if reference is not None:
        if any(arg is not None for arg in (columns, numeric, categorical, prediction)):
            raise InvalidInput(
                "columns, numeric, categorical and prediction come from the reference; "
                "leave them out when reference= is given",
                field="reference",
            )
        features: list[FeatureSummary] = []
        for like in reference.features:
            if like.name not in available:
                raise InvalidInput(
                    f"column {like.name!r} is in the reference but not in the current data; "
                    "add it to the data (or summarise a reference without it)",
                    field=like.name,
                )
            features.append(_summarize_column(table, like.name, like.kind, bins, top_k, like))
        return Summary(tuple(features), rows, reference.prediction)
    if bins < 1 or top_k < 1:
        raise InvalidInput(
            f"bins and top_k must be at least 1 (got bins={bins}, top_k={top_k})", field="bins"
        )
    names = _names("columns", columns, available) or list(available)
    forced_numeric = set(_names("numeric", numeric, available))
    forced_categorical = set(_names("categorical", categorical, available))
    both = forced_numeric & forced_categorical
    if both:
        raise InvalidInput(
            f"column {sorted(both)[0]!r} is declared both numeric and categorical; pick one",
            field=sorted(both)[0],
        )
    if prediction is not None:
        _names("prediction", [prediction], available)
        if prediction not in names:
            names.append(prediction)
    features = []
    for name in names:
        if name in forced_numeric:
            kind: Kind = "numeric"
        elif name in forced_categorical:
            kind = "categorical"
        else:
            kind = tables.detect_kind(table, name)
        features.append(_summarize_column(table, name, kind, bins, top_k, None))
    return Summary(tuple(features), rows, prediction)


def _summarize_column(
    table: Any, name: str, kind: Kind, bins: int, top_k: int, like: FeatureSummary | None
) -> FeatureSummary:
    if kind == "numeric":
        try:
            values = tables.numeric_values(table, name)
        except InvalidInput as exc:
            if like is None:
                raise
            raise InvalidInput(
                f"column {name!r} is numeric in the reference but holds values that are not "
                "numbers in the current data; convert them before the check",
                field=name,
            ) from exc
        return _numeric(name, values, bins, like if isinstance(like, NumericSummary) else None)
    found, missing = tables.category_counts(table, name)
    return _categorical(
        name, found, missing, top_k, like if isinstance(like, CategoricalSummary) else None
    )
