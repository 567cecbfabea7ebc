"""Drift: each profile flags the shifted columns and only them; every figure is scipy's."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, kstwo, wasserstein_distance

from monitoring.synthetic import ALARMED, DRIFTED, STEADY, frame
from usina.errors import InvalidInput
from usina.monitoring import (
    DriftReport,
    EvidentlyProfile,
    IncompatibleSummaries,
    NumericSummary,
    VertexProfile,
    compare,
    summarize,
)

# (reference rows, current rows): Evidently's profile picks p-value tests up to 1,000
# reference rows and distances above.
SIZES = [(20_000, 5_000), (800, 600)]


@pytest.mark.parametrize("profile", ["vertex", "evidently"])
@pytest.mark.parametrize(("reference_rows", "current_rows"), SIZES)
def test_each_profile_flags_the_shifted_columns_and_not_the_others(
    profile: str, reference_rows: int, current_rows: int
) -> None:
    reference = summarize(frame(reference_rows, 1, False), prediction="score")
    window = summarize(frame(current_rows, 2, True), reference=reference)
    report = compare(reference, window, profile=profile)

    drifted = set(report.drifted)
    alarms = {(a.feature, a.kind) for a in report.alarms}
    assert drifted >= DRIFTED
    assert set(ALARMED.items()) == alarms
    # A new category is a shift too: the p-value tests see it (its expected count is zero);
    # every profile raises the unseen-category alarm for it.
    assert drifted - DRIFTED <= {"city"}
    assert not (STEADY | {"missing_rise"}) & drifted
    assert report.prediction is not None and report.prediction.feature == "score"
    assert not report.prediction.drifted
    assert "score" not in [f.feature for f in report.features]
    assert report.drifted_share == len(drifted) / 7


def test_the_same_window_twice_shows_no_drift() -> None:
    reference = summarize(frame(20_000, 1, False))
    for profile in ("vertex", "evidently"):
        report = compare(reference, frame(5_000, 3, False), profile=profile)
        assert report.drifted == [] and report.alarms == () and not report.dataset_drift


def test_profiles_choose_the_documented_rules() -> None:
    def metrics(reference_rows: int, profile: str) -> dict[str, str]:
        reference = summarize(frame(reference_rows, 1, False))
        report = compare(reference, frame(500, 2, True), profile=profile)
        return {f.feature: f.metric for f in report.features}

    assert set(metrics(20_000, "vertex").items()) >= {
        ("stable", "jensen_shannon_divergence"),
        ("plan", "l_infinity"),
    }
    assert set(metrics(20_000, "evidently").items()) >= {
        ("stable", "wasserstein"),
        ("plan", "jensen_shannon"),
    }
    assert set(metrics(1_000, "evidently").items()) >= {("stable", "ks"), ("plan", "chi_square")}
    binary = pd.DataFrame({"yes": ["y", "n"] * 300, "few": [0.0, 1.0, 2.0] * 200})
    report = compare(summarize(binary), binary, profile="evidently")
    assert {f.feature: f.metric for f in report.features} == {"yes": "z", "few": "chi_square"}
    big = pd.concat([binary] * 2)
    report = compare(summarize(big), big, profile="evidently")
    assert {f.feature: f.metric for f in report.features} == {
        "yes": "jensen_shannon",
        "few": "jensen_shannon",
    }


def test_dataset_drift_follows_the_profiles_share() -> None:
    reference = summarize(frame(20_000, 1, False), prediction="score")
    window = summarize(frame(5_000, 2, True), reference=reference)
    evidently = compare(reference, window, profile="evidently")
    assert evidently.drift_share == 0.5 and evidently.drifted_share < 0.5
    assert not evidently.dataset_drift
    assert compare(reference, window, profile=EvidentlyProfile(drift_share=0.4)).dataset_drift
    vertex = compare(reference, window, profile="vertex")
    assert vertex.drift_share is None and vertex.dataset_drift  # any drifted feature


def test_per_feature_thresholds_override_the_profile() -> None:
    reference = summarize(frame(20_000, 1, False))
    window = summarize(frame(5_000, 2, True), reference=reference)
    report = compare(reference, window, thresholds={"mean_shift": 0.9, "stable": 0.0})
    assert report["mean_shift"].threshold == 0.9 and not report["mean_shift"].drifted
    assert report["stable"].drifted
    looser = compare(reference, window, profile=VertexProfile(categorical_threshold=0.7))
    assert "channel" not in looser.drifted


# -- the figures are scipy's, on the same rows --------------------------------------------


def _bin_counts(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Counts per bin, computed independently: (-inf, e0), [e0, e1), ..., [e_m, +inf)."""
    values = values[np.isfinite(values)]
    bounds = [-np.inf, *edges, np.inf]
    return np.array(
        [((values >= lo) & (values < hi)).sum() for lo, hi in itertools.pairwise(bounds)]
    )


def test_numeric_figures_match_scipy_on_the_same_rows() -> None:
    ref_frame, cur_frame = frame(4_000, 1, False), frame(3_000, 2, True)
    reference = summarize(ref_frame)
    report = compare(
        reference,
        summarize(cur_frame, reference=reference),
        metrics=["ks", "wasserstein", "chi_square"],
    )
    for name in ("stable", "mean_shift", "variance_shift", "missing_rise"):
        ref_summary = reference[name]
        assert isinstance(ref_summary, NumericSummary)
        p = _bin_counts(ref_frame[name].to_numpy(), ref_summary.edges)
        q = _bin_counts(cur_frame[name].to_numpy(), ref_summary.edges)
        figures = report[name].figures
        assert figures["jensen_shannon"] == pytest.approx(jensenshannon(p, q), rel=1e-12)
        assert figures["jensen_shannon_divergence"] == pytest.approx(
            jensenshannon(p, q, base=2) ** 2, rel=1e-12
        )
        a, b = np.maximum(p / p.sum(), 1e-4), np.maximum(q / q.sum(), 1e-4)
        assert figures["psi"] == pytest.approx(np.sum((b - a) * np.log(b / a)), rel=1e-12)
        used = (p + q) > 0
        expected = chi2_contingency(np.vstack([p[used], q[used]]), correction=False).pvalue
        assert figures["chi_square"] == pytest.approx(expected, rel=1e-9, abs=1e-300)
        # Binned KS: the CDF gap at the bin edges, with scipy's asymptotic p-value.
        n, m = p.sum(), q.sum()
        gap = np.max(np.abs(np.cumsum(p) / n - np.cumsum(q) / m))
        assert figures["ks_statistic"] == pytest.approx(gap, rel=1e-12)
        assert figures["ks"] == pytest.approx(kstwo.sf(gap, round(n * m / (n + m))), abs=1e-12)
        raw = ks_2samp(ref_frame[name].dropna(), cur_frame[name].dropna()).statistic
        assert figures["ks_statistic"] <= raw + 1e-12


def test_raw_tables_give_scipys_exact_ks_and_wasserstein() -> None:
    ref_frame, cur_frame = frame(4_000, 1, False), frame(3_000, 2, True)
    report = compare(ref_frame, cur_frame, metrics=["ks", "wasserstein"])
    for name in ("stable", "mean_shift", "variance_shift", "missing_rise"):
        x, y = ref_frame[name].dropna().to_numpy(), cur_frame[name].dropna().to_numpy()
        figures = report[name].figures
        result = ks_2samp(x, y)
        assert figures["ks"] == result.pvalue and figures["ks_statistic"] == result.statistic
        assert figures["wasserstein"] == pytest.approx(
            wasserstein_distance(x, y) / np.std(x), rel=1e-12
        )
        # The binned Wasserstein (from summaries only) stays within a few percent of the raw one.
        reference = summarize(ref_frame)
        binned = compare(
            reference, summarize(cur_frame, reference=reference), metrics=["wasserstein"]
        )
        assert binned[name].figures["wasserstein"] == pytest.approx(
            figures["wasserstein"], rel=0.05, abs=0.02
        )


def test_categorical_figures_match_scipy_on_the_same_rows() -> None:
    ref_frame, cur_frame = frame(4_000, 1, False), frame(3_000, 2, True)
    reference = summarize(ref_frame)
    report = compare(reference, cur_frame, metrics=["chi_square"])
    for name in ("plan", "channel", "city"):
        order = list(reference[name].categories)  # type: ignore[union-attr]
        ref_counts = ref_frame[name].value_counts()
        cur_counts = cur_frame[name].value_counts()
        p = np.array([ref_counts.get(c, 0) for c in order] + [0])
        q = np.array(
            [cur_counts.get(c, 0) for c in order] + [cur_counts.drop(order, errors="ignore").sum()]
        )
        figures = report[name].figures
        assert figures["jensen_shannon"] == pytest.approx(jensenshannon(p, q), rel=1e-12)
        assert figures["l_infinity"] == pytest.approx(
            np.max(np.abs(p / p.sum() - q / q.sum())), rel=1e-12
        )
        table = pd.crosstab(
            np.r_[np.zeros(len(ref_frame)), np.ones(len(cur_frame))],
            np.r_[ref_frame[name].to_numpy(), cur_frame[name].to_numpy()],
        ).to_numpy()
        expected = chi2_contingency(table, correction=False).pvalue
        assert figures["chi_square"] == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_the_binary_z_test_is_the_uncorrected_2x2_chi_square() -> None:
    from scipy.stats import norm

    ref = pd.DataFrame({"b": ["y"] * 300 + ["n"] * 500})
    cur = pd.DataFrame({"b": ["y"] * 260 + ["n"] * 340})
    report = compare(summarize(ref), cur, profile="evidently")
    p1, p2 = 300 / 800, 260 / 600
    pooled = (300 + 260) / 1400
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / 800 + 1 / 600))
    assert report["b"].metric == "z"
    assert report["b"].p_value == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9)


# -- results and errors -------------------------------------------------------------------


def test_the_report_round_trips_through_json() -> None:
    reference = summarize(frame(2_000, 1, False), prediction="score")
    report = compare(reference, frame(1_000, 2, True), profile="evidently", metrics=["ks"])
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["format"] == "usina.drift" and data["version"] == 1
    assert DriftReport.from_dict(data) == report
    feature = data["features"][0]
    assert set(feature) >= {"feature", "kind", "metric", "value", "threshold", "drifted", "p_value"}


def test_a_column_with_no_values_left_has_no_figure_but_alarms() -> None:
    reference = summarize(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}))
    report = compare(reference, pd.DataFrame({"x": [np.nan, np.nan]}))
    assert report["x"].value is None and not report["x"].drifted
    assert [(a.feature, a.kind, a.value) for a in report.alarms] == [("x", "missing_rate", 1.0)]


def test_comparing_names_what_is_wrong() -> None:
    reference = summarize(frame(1_000, 1, False))
    with pytest.raises(InvalidInput, match="'city'") as caught:
        compare(reference, frame(500, 2, True).drop(columns=["city"]))
    assert caught.value.field == "city"
    with pytest.raises(InvalidInput, match="no rows"):
        compare(reference, frame(500, 2, True).iloc[:0])
    with pytest.raises(InvalidInput, match="unknown drift profile 'azure'"):
        compare(reference, frame(500, 2, True), profile="azure")
    with pytest.raises(InvalidInput, match="unknown drift metric 'kl'"):
        compare(reference, frame(500, 2, True), metrics=["kl"])
    with pytest.raises(InvalidInput, match="'age'"):
        compare(reference, frame(500, 2, True), thresholds={"age": 0.2})
    other = summarize(frame(500, 2, True))
    with pytest.raises(IncompatibleSummaries, match="summarize\\(window, reference=ref\\)"):
        compare(reference, other)
    strings = frame(500, 2, True).assign(stable="high")
    with pytest.raises(InvalidInput, match="'stable' is numeric in the reference"):
        compare(reference, strings)
