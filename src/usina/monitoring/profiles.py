"""Profiles: which drift figure decides for a column, and at what threshold.

Two named profiles reproduce the defaults of the tools teams already know:

``vertex``
    Vertex AI Model Monitoring: L-infinity distance for categorical columns, Jensen-Shannon
    divergence for numeric ones, drift when the figure exceeds the threshold (0.3 by default,
    per column if given). Vertex alerts per feature, so a dataset drifts when any feature does.

``evidently``
    Evidently's data drift preset (0.7): the test depends on the reference's size (non-missing
    rows) and on the number of distinct values. With at most 1,000 reference rows: numeric
    columns use the Kolmogorov-Smirnov p-value (drift when <= 0.05), except columns with at
    most 5 distinct values, which are treated like categorical ones; categorical columns use
    the chi-square p-value (< 0.05), or the two-proportion z-test when there are at most 2
    values. With more rows: numeric columns use the normalised Wasserstein distance (>= 0.1),
    or the Jensen-Shannon distance (>= 0.1) with at most 5 distinct values; categorical
    columns the Jensen-Shannon distance (>= 0.1). The dataset drifts when at least half of the
    columns do.

A profile is any object with a ``name``, a ``drift_share`` and a ``rule(reference, current)``
method; pass one to :func:`usina.monitoring.compare` as ``profile=``.

    >>> from usina.monitoring import VertexProfile
    >>> strict = VertexProfile(numeric_threshold=0.1, categorical_threshold=0.2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from usina.errors import InvalidInput
from usina.monitoring.summaries import CategoricalSummary, FeatureSummary, NumericSummary

Comparison = Literal[">", ">=", "<", "<="]


@dataclass(frozen=True)
class Rule:
    """How one column is judged: ``metric`` compared with ``threshold`` by ``comparison``
    (``">="``: drift when the figure is at least the threshold; ``"<"``: when a p-value is
    below it)."""

    metric: str
    threshold: float
    comparison: Comparison

    def drifted(self, value: float, threshold: float | None = None) -> bool:
        """Whether ``value`` is drift under this rule (with ``threshold`` overriding its own)."""
        limit = self.threshold if threshold is None else threshold
        if self.comparison == ">":
            return value > limit
        if self.comparison == ">=":
            return value >= limit
        if self.comparison == "<":
            return value < limit
        return value <= limit


class Profile(Protocol):
    """Chooses the rule for each column; ``drift_share`` is the share of drifted features at
    which the whole dataset counts as drifted (``None``: any drifted feature)."""

    @property
    def name(self) -> str: ...

    @property
    def drift_share(self) -> float | None: ...

    def rule(self, reference: FeatureSummary, current: FeatureSummary) -> Rule:
        """The rule for one column, from its reference and current summaries."""
        ...


@dataclass(frozen=True)
class VertexProfile:
    """Vertex AI Model Monitoring's defaults: L-infinity (categorical) and Jensen-Shannon
    divergence (numeric), drift above 0.3."""

    numeric_threshold: float = 0.3
    categorical_threshold: float = 0.3
    drift_share: float | None = None
    name: str = "vertex"

    def rule(self, reference: FeatureSummary, current: FeatureSummary) -> Rule:
        if reference.kind == "numeric":
            return Rule("jensen_shannon_divergence", self.numeric_threshold, ">")
        return Rule("l_infinity", self.categorical_threshold, ">")


@dataclass(frozen=True)
class EvidentlyProfile:
    """Evidently's data drift preset defaults: the test depends on the reference's size."""

    small_reference: int = 1000
    p_value: float = 0.05
    distance: float = 0.1
    few_values: int = 5
    drift_share: float | None = 0.5
    name: str = "evidently"

    def rule(self, reference: FeatureSummary, current: FeatureSummary) -> Rule:
        values = distinct_values(reference, current)
        few = values is not None and values <= self.few_values
        if reference.count <= self.small_reference:
            if reference.kind == "numeric" and not few:
                return Rule("ks", self.p_value, "<=")
            if values is not None and values <= 2:
                return Rule("z", self.p_value, "<")
            return Rule("chi_square", self.p_value, "<")
        if reference.kind == "numeric" and not few:
            return Rule("wasserstein", self.distance, ">=")
        return Rule("jensen_shannon", self.distance, ">=")


def distinct_values(reference: FeatureSummary, current: FeatureSummary) -> int | None:
    """How many distinct values the two windows hold together, as far as the summaries tell
    (``None``: more than they list).

    For a numeric column, the reference's distinct values (known when it had no more than
    its bins), plus one for each outer bin the current window uses. For a categorical column,
    the reference's categories plus the current window's unseen ones.
    """
    if isinstance(reference, NumericSummary):
        if reference.distinct is None:
            return None
        outside = current.counts[0] > 0, current.counts[-1] > 0
        return reference.distinct + sum(outside)
    assert isinstance(reference, CategoricalSummary)
    assert isinstance(current, CategoricalSummary)
    if not reference.complete or current.unseen_rows > sum(current.unseen.values()):
        return None
    listed = [c for c, n in zip(reference.categories, reference.counts, strict=True) if n]
    return len(listed) + len(reference.known) + len(current.unseen)


PROFILES: dict[str, Profile] = {"vertex": VertexProfile(), "evidently": EvidentlyProfile()}


def resolve(profile: str | Profile) -> Profile:
    """The profile named ``profile`` (or ``profile`` itself when it is one)."""
    if not isinstance(profile, str):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise InvalidInput(
            f"unknown drift profile {profile!r}; use one of {sorted(PROFILES)} or pass a Profile",
            field="profile",
        ) from None
