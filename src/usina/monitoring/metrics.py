"""Drift figures between two summaries of one column, each computed by scipy on their counts.

Every function takes the reference's and the current window's counts over the same bins (or
categories) and returns one number; none of them reads a row. The two that can use raw
values instead (Kolmogorov-Smirnov and Wasserstein) have a ``raw_`` twin for when both
samples are at hand.

==========================  =======================================================  =========
name                        what it is                                              direction
==========================  =======================================================  =========
jensen_shannon              scipy.spatial.distance.jensenshannon (natural log),      high
                            0 (same) to sqrt(ln 2) = 0.833
jensen_shannon_divergence   the same distance in base 2, squared: 0 to 1             high
psi                         population stability index, sum (q - p) ln(q / p), an    high
                            empty bin counting as a share of 0.0001
l_infinity                  largest absolute difference between two shares           high
ks                          Kolmogorov-Smirnov p-value                               low
chi_square                  chi-square p-value of the 2 x k table (homogeneity)      low
z                           two-proportion z-test p-value (binary columns)           low
wasserstein                 Wasserstein distance over the reference's std (ddof 0)   high
==========================  =======================================================  =========
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from usina.monitoring.summaries import FeatureSummary, NumericSummary

DISTANCES = ("jensen_shannon", "jensen_shannon_divergence", "psi", "l_infinity", "wasserstein")
P_VALUES = ("ks", "chi_square", "z")
METRICS = DISTANCES + P_VALUES
# Shown on request only (compare(..., metrics=[...])); the others are always computed.
ON_REQUEST = ("ks", "chi_square", "wasserstein")
PSI_FLOOR = 1e-4
WASSERSTEIN_FLOOR = 1e-3  # the smallest std a Wasserstein distance is divided by


def counts(summary: FeatureSummary) -> np.ndarray:
    """The column's counts as one vector: its bins, or its categories then ``other``."""
    import numpy as np

    if summary.kind == "numeric":
        return np.asarray(summary.counts, dtype=np.float64)
    return np.asarray((*summary.counts, summary.other), dtype=np.float64)  # type: ignore[union-attr]


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) between the two normalised count vectors."""
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(p, q))


def jensen_shannon_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (the base-2 distance squared), between 0 and 1."""
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(p, q, base=2) ** 2)


def psi(p: np.ndarray, q: np.ndarray) -> float:
    """Population stability index: sum over bins of (q - p) * ln(q / p) on shares, where an
    empty bin counts as a share of 0.0001 (so a bin only one side uses adds a finite term)."""
    import numpy as np

    a = np.maximum(p / p.sum(), PSI_FLOOR)
    b = np.maximum(q / q.sum(), PSI_FLOOR)
    return float(np.sum((b - a) * np.log(b / a)))


def l_infinity(p: np.ndarray, q: np.ndarray) -> float:
    """Largest absolute difference between the two distributions' shares."""
    import numpy as np

    return float(np.max(np.abs(p / p.sum() - q / q.sum())))


def chi_square(p: np.ndarray, q: np.ndarray) -> float:
    """p-value of scipy.stats.chi2_contingency on the 2 x k table of counts (bins or
    categories used by neither side dropped): are both windows drawn from one distribution?"""
    import numpy as np
    from scipy.stats import chi2_contingency

    used = (p + q) > 0
    if used.sum() < 2:
        return 1.0
    table = np.vstack([p[used], q[used]])
    return float(chi2_contingency(table, correction=False).pvalue)


def z_test(p: np.ndarray, q: np.ndarray) -> float:
    """Two-proportion z-test p-value for a column with two values: the chi-square test of the
    2 x 2 table without continuity correction, which is the same test (chi2 = z squared)."""
    return chi_square(p, q)


def ks(p: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    """Kolmogorov-Smirnov (statistic, p-value) from the binned CDFs.

    The statistic is the largest gap between the two CDFs at the bin edges, a lower bound of
    the raw-data statistic (exact when every value has its own bin); the p-value is the
    asymptotic two-sided one, ``scipy.stats.kstwo.sf(D, round(n m / (n + m)))``, as
    ``scipy.stats.ks_2samp(method="asymp")`` computes it.
    """
    import numpy as np
    from scipy.stats import kstwo

    n, m = p.sum(), q.sum()
    statistic = float(np.max(np.abs(np.cumsum(p) / n - np.cumsum(q) / m)))
    effective = round(n * m / (n + m))
    return statistic, float(kstwo.sf(statistic, max(effective, 1)))


def raw_ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Kolmogorov-Smirnov (statistic, p-value) on the raw values: ``scipy.stats.ks_2samp``."""
    from scipy.stats import ks_2samp

    result = ks_2samp(reference, current)
    return float(result.statistic), float(result.pvalue)


def _centres(summary: NumericSummary) -> np.ndarray:
    import numpy as np

    edges = np.asarray(summary.edges, dtype=np.float64)
    if len(edges) == 0:
        return np.asarray([summary.mean or 0.0])
    below, above = summary.counts[0], summary.counts[-1]
    return np.concatenate(
        (
            [summary.below_sum / below if below else edges[0]],
            (edges[:-1] + edges[1:]) / 2,
            [summary.above_sum / above if above else edges[-1]],
        )
    )


def wasserstein(reference: NumericSummary, current: NumericSummary) -> float:
    """Normalised Wasserstein distance from the bins: ``scipy.stats.wasserstein_distance`` of
    each bin's centre weighted by its count (an outer bin's centre is the mean of its values),
    divided by the reference's standard deviation (at least 0.001)."""
    from scipy.stats import wasserstein_distance

    distance = wasserstein_distance(
        _centres(reference),
        _centres(current),
        u_weights=counts(reference),
        v_weights=counts(current),
    )
    return float(distance) / max(reference.std or 0.0, WASSERSTEIN_FLOOR)


def raw_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """Normalised Wasserstein distance on the raw values: ``scipy.stats.wasserstein_distance``
    over ``np.std(reference)`` (at least 0.001)."""
    import numpy as np
    from scipy.stats import wasserstein_distance

    norm = max(float(np.std(reference)), WASSERSTEIN_FLOOR)
    return float(wasserstein_distance(reference, current)) / norm


def finite(values: Any) -> np.ndarray:
    """The finite values of an array (what a summary counts; the rest is missing)."""
    import numpy as np

    return values[np.isfinite(values)]
