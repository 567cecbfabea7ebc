"""Monitoring: per-feature summaries of training data, and drift between them and live data.

``summarize`` turns a table into a small, JSON-serialisable :class:`Summary` (quantile bins,
top categories, missing counts); ``compare`` measures drift between a reference summary and a
current one with a named profile (``"vertex"`` or ``"evidently"``) and returns a
:class:`DriftReport`.

Alerts: ``usina.monitoring.alerter.Alerter`` turns check results into alerts and sends them to
channels (``email:``, ``webhook:``, ``log:``; ``usina.monitoring.channels``); the alert state
lives in an ``AlertStore`` (``usina.monitoring.base``), on the database (``sql``) or through a
server (``http``). Those modules are imported where they are used. See docs/monitoring.md.
"""

from usina.monitoring.drift import Alarm, DriftReport, FeatureDrift, compare
from usina.monitoring.profiles import PROFILES, EvidentlyProfile, Profile, Rule, VertexProfile
from usina.monitoring.summaries import (
    CategoricalSummary,
    FeatureSummary,
    IncompatibleSummaries,
    NumericSummary,
    Summary,
    summarize,
)

__all__ = [
    "PROFILES",
    "Alarm",
    "CategoricalSummary",
    "DriftReport",
    "EvidentlyProfile",
    "FeatureDrift",
    "FeatureSummary",
    "IncompatibleSummaries",
    "NumericSummary",
    "Profile",
    "Rule",
    "Summary",
    "VertexProfile",
    "compare",
    "summarize",
]
