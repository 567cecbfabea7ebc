"""Drift between a reference summary and a current one, feature by feature.

    >>> import numpy as np, pandas as pd
    >>> from usina.monitoring import compare, summarize
    >>> rng = np.random.default_rng(0)
    >>> train = pd.DataFrame({"x": rng.normal(size=5000), "y": rng.normal(size=5000)})
    >>> live = pd.DataFrame({"x": rng.normal(2, 1, 1000), "y": rng.normal(size=1000)})
    >>> reference = summarize(train)
    >>> report = compare(reference, summarize(live, reference=reference), profile="evidently")
    >>> report.drifted
    ['x']

Besides distribution drift, ``compare`` raises two alarms a distance can miss: a column's
missing rate rising by more than ``missing_rate_increase``, and rows in categories the
reference never had (more than ``unseen_share`` of the column's rows).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from usina.errors import InvalidInput
from usina.monitoring import metrics as drift_metrics
from usina.monitoring import tables
from usina.monitoring.profiles import Profile, resolve
from usina.monitoring.summaries import (
    CategoricalSummary,
    FeatureSummary,
    IncompatibleSummaries,
    NumericSummary,
    Summary,
    summarize,
)
from usina.monitoring.tables import Kind

FORMAT = "usina.drift"
VERSION = 1
DEFAULT_MISSING_RATE_INCREASE = 0.05
DEFAULT_UNSEEN_SHARE = 0.0

AlarmKind = Literal["missing_rate", "unseen_categories"]


@dataclass(frozen=True)
class FeatureDrift:
    """One column's drift: the figure its profile decides on, and every figure computed.

    ``value`` is ``figures[metric]``; ``p_value`` repeats it when the metric is a test's
    p-value (``ks``, ``chi_square``, ``z``). ``value`` is ``None`` (and ``drifted`` false)
    when either window has no non-missing value in this column: the missing-rate alarm speaks
    for it then.
    """

    feature: str
    kind: Kind
    metric: str
    value: float | None
    threshold: float
    drifted: bool
    p_value: float | None = None
    figures: Mapping[str, float] = field(default_factory=dict)
    reference_missing_rate: float = 0.0
    current_missing_rate: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "p_value": self.p_value,
            "figures": dict(self.figures),
            "reference_missing_rate": self.reference_missing_rate,
            "current_missing_rate": self.current_missing_rate,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureDrift:
        return cls(
            feature=data["feature"],
            kind=data["kind"],
            metric=data["metric"],
            value=data["value"],
            threshold=data["threshold"],
            drifted=data["drifted"],
            p_value=data.get("p_value"),
            figures=dict(data.get("figures", {})),
            reference_missing_rate=data.get("reference_missing_rate", 0.0),
            current_missing_rate=data.get("current_missing_rate", 0.0),
        )


@dataclass(frozen=True)
class Alarm:
    """A problem in one column that is not a distribution shift.

    ``missing_rate``: ``value`` is the rise of the missing rate (current minus reference),
    above ``threshold``. ``unseen_categories``: ``value`` is the share of the column's rows in
    categories the reference never had, above ``threshold``; ``categories`` names the most
    frequent of them.
    """

    feature: str
    kind: AlarmKind
    value: float
    threshold: float
    categories: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "value": self.value,
            "threshold": self.threshold,
            "categories": list(self.categories),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alarm:
        return cls(
            data["feature"],
            data["kind"],
            data["value"],
            data["threshold"],
            tuple(data.get("categories", ())),
        )


@dataclass(frozen=True)
class DriftReport:
    """The result of :func:`compare`: every feature's drift, the prediction's, and the alarms.

    ``drifted_share`` is the share of features (the prediction excluded) that drifted;
    ``dataset_drift`` is whether it reaches the profile's ``drift_share`` (or, for a profile
    without one, whether any feature drifted).
    """

    profile: str
    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift | None
    alarms: tuple[Alarm, ...]
    drifted_share: float
    drift_share: float | None
    dataset_drift: bool
    reference_rows: int
    current_rows: int

    def __getitem__(self, name: str) -> FeatureDrift:
        for item in (*self.features, *([self.prediction] if self.prediction else [])):
            if item.feature == name:
                return item
        raise KeyError(name)

    @property
    def drifted(self) -> list[str]:
        """Names of the drifted features, in column order (the prediction excluded)."""
        return [f.feature for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: ``json.dumps(report.to_dict())`` works as is."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "profile": self.profile,
            "features": [f.to_dict() for f in self.features],
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "alarms": [a.to_dict() for a in self.alarms],
            "drifted_share": self.drifted_share,
            "drift_share": self.drift_share,
            "dataset_drift": self.dataset_drift,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReport:
        """Read what :meth:`to_dict` wrote (refusing a newer format version)."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise InvalidInput(f"not a usina drift report (expected format {FORMAT!r})")
        version = data.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise InvalidInput(
                f"drift report format version {version!r} is newer than this usina reads "
                f"({VERSION}); upgrade usina",
                field="version",
            )
        prediction = data.get("prediction")
        return cls(
            profile=data["profile"],
            features=tuple(FeatureDrift.from_dict(f) for f in data["features"]),
            prediction=FeatureDrift.from_dict(prediction) if prediction else None,
            alarms=tuple(Alarm.from_dict(a) for a in data.get("alarms", ())),
            drifted_share=data["drifted_share"],
            drift_share=data.get("drift_share"),
            dataset_drift=data["dataset_drift"],
            reference_rows=data["reference_rows"],
            current_rows=data["current_rows"],
        )


def _check_metrics(requested: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(requested)
    for name in chosen:
        if name not in drift_metrics.ON_REQUEST:
            raise InvalidInput(
                f"unknown drift metric {name!r} in metrics=; the ones computed on request are "
                f"{list(drift_metrics.ON_REQUEST)} (the others are always computed)",
                field="metrics",
            )
    return chosen


def _check_pair(reference: Summary, current: Summary) -> None:
    if current.rows == 0:
        raise InvalidInput("the current data has no rows; nothing to compare", field="current")
    for ref in reference.features:
        if ref.name not in current:
            raise InvalidInput(
                f"column {ref.name!r} is in the reference but not in the current data; add it "
                "to the data",
                field=ref.name,
            )
        cur = current[ref.name]
        if cur.kind != ref.kind:
            raise IncompatibleSummaries(
                f"column {ref.name!r} is {ref.kind} in the reference but {cur.kind} in the "
                "current summary; summarise the window with summarize(window, reference=ref)",
                field=ref.name,
            )
        same = (
            cur.edges == ref.edges  # type: ignore[union-attr]
            if isinstance(ref, NumericSummary)
            else cur.categories == ref.categories  # type: ignore[union-attr]
        )
        if not same:
            raise IncompatibleSummaries(
                f"column {ref.name!r}: the current summary was not made against this reference "
                "(different bins or categories); use summarize(window, reference=ref)",
                field=ref.name,
            )


def _figures(
    ref: FeatureSummary,
    cur: FeatureSummary,
    wanted: set[str],
    raw: tuple[Any, Any] | None,
) -> dict[str, float]:
    p, q = drift_metrics.counts(ref), drift_metrics.counts(cur)
    found: dict[str, float] = {
        "jensen_shannon": drift_metrics.jensen_shannon(p, q),
        "jensen_shannon_divergence": drift_metrics.jensen_shannon_divergence(p, q),
    }
    if isinstance(ref, NumericSummary):
        found["psi"] = drift_metrics.psi(p, q)
        if "ks" in wanted:
            statistic, p_value = drift_metrics.raw_ks(*raw) if raw else drift_metrics.ks(p, q)
            found["ks"], found["ks_statistic"] = p_value, statistic
        if "wasserstein" in wanted:
            found["wasserstein"] = (
                drift_metrics.raw_wasserstein(*raw) if raw else drift_metrics.wasserstein(ref, cur)  # type: ignore[arg-type]
            )
    else:
        found["l_infinity"] = drift_metrics.l_infinity(p, q)
    if "chi_square" in wanted:
        found["chi_square"] = drift_metrics.chi_square(p, q)
    if "z" in wanted:
        found["z"] = drift_metrics.z_test(p, q)
    return {k: v for k, v in found.items() if math.isfinite(v)}


def _alarms(
    ref: FeatureSummary, cur: FeatureSummary, missing_rate_increase: float, unseen_share: float
) -> list[Alarm]:
    found = []
    rise = cur.missing_rate - ref.missing_rate
    if rise > missing_rate_increase:
        found.append(Alarm(ref.name, "missing_rate", rise, missing_rate_increase))
    if isinstance(ref, CategoricalSummary) and isinstance(cur, CategoricalSummary):
        share = cur.unseen_rows / cur.count if cur.count else 0.0
        if ref.complete and cur.unseen_rows and share > unseen_share:
            found.append(
                Alarm(ref.name, "unseen_categories", share, unseen_share, tuple(cur.unseen))
            )
    return found


def compare(
    reference: Summary | Any,
    current: Summary | Any,
    *,
    profile: str | Profile = "vertex",
    thresholds: Mapping[str, float] | None = None,
    metrics: Iterable[str] = (),
    missing_rate_increase: float = DEFAULT_MISSING_RATE_INCREASE,
    unseen_share: float = DEFAULT_UNSEEN_SHARE,
) -> DriftReport:
    """Drift of every reference column between the reference and the current window.

    Args:
        reference: the reference :class:`Summary` (or a table, summarised here).
        current: the window's :class:`Summary`, made with ``summarize(window,
            reference=reference)``, or a table (summarised here against the reference).
        profile: ``"vertex"`` (default), ``"evidently"``, or a :class:`Profile`.
        thresholds: per-column thresholds overriding the profile's (the prediction too).
        metrics: extra figures to compute for every column: ``"ks"`` (numeric),
            ``"chi_square"`` and ``"wasserstein"`` (numeric). They land in each feature's
            ``figures``. KS and Wasserstein use the raw values when both ``reference`` and
            ``current`` are tables, and the bins otherwise (see :mod:`usina.monitoring.metrics`).
        missing_rate_increase: alarm when a column's missing rate rises by more than this
            (default 0.05, five percentage points).
        unseen_share: alarm when more than this share of a categorical column's rows are in
            categories the reference never had (default 0: any such row).

    Raises:
        InvalidInput: a reference column is missing from the current data (named), the
            current data is empty, an unknown profile or metric is asked for.
        IncompatibleSummaries: the current summary was not made against this reference.
    """
    chosen = resolve(profile)
    wanted = set(_check_metrics(metrics))
    reference_table = None if isinstance(reference, Summary) else reference
    current_table = None if isinstance(current, Summary) else current
    if reference_table is not None:
        reference = summarize(reference_table)
    if current_table is not None:
        current = summarize(current_table, reference=reference)
    _check_pair(reference, current)
    limits = dict(thresholds or {})
    unknown = [name for name in limits if name not in reference]
    if unknown:
        raise InvalidInput(
            f"thresholds= names column {unknown[0]!r}, which the reference does not have",
            field=unknown[0],
        )
    features: list[FeatureDrift] = []
    prediction: FeatureDrift | None = None
    alarms: list[Alarm] = []
    for ref in reference.features:
        cur = current[ref.name]
        rule = chosen.rule(ref, cur)
        threshold = float(limits.get(ref.name, rule.threshold))
        figures: dict[str, float] = {}
        needed = wanted | {rule.metric}
        if ref.count and cur.count:
            raw = None
            if (
                reference_table is not None
                and current_table is not None
                and ref.kind == "numeric"
                and needed & {"ks", "wasserstein"}
            ):
                raw = (
                    drift_metrics.finite(tables.numeric_values(reference_table, ref.name)),
                    drift_metrics.finite(tables.numeric_values(current_table, ref.name)),
                )
            figures = _figures(ref, cur, needed, raw)
        value = figures.get(rule.metric)
        result = FeatureDrift(
            feature=ref.name,
            kind=ref.kind,
            metric=rule.metric,
            value=value,
            threshold=threshold,
            drifted=value is not None and rule.drifted(value, threshold),
            p_value=value if rule.metric in drift_metrics.P_VALUES else None,
            figures=figures,
            reference_missing_rate=ref.missing_rate,
            current_missing_rate=cur.missing_rate,
        )
        if ref.name == reference.prediction:
            prediction = result
        else:
            features.append(result)
        alarms += _alarms(ref, cur, missing_rate_increase, unseen_share)
    share = sum(f.drifted for f in features) / len(features) if features else 0.0
    limit = chosen.drift_share
    return DriftReport(
        profile=chosen.name,
        features=tuple(features),
        prediction=prediction,
        alarms=tuple(alarms),
        drifted_share=share,
        drift_share=limit,
        dataset_drift=share >= limit if limit is not None else any(f.drifted for f in features),
        reference_rows=reference.rows,
        current_rows=current.rows,
    )
