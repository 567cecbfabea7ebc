"""Synthetic tables with known shifts: what each drift check must find, and must not."""

from __future__ import annotations

import numpy as np
import pandas as pd

# The columns a current window shifts, and how; every other column keeps its distribution.
DRIFTED = {"mean_shift", "variance_shift", "channel"}
ALARMED = {"missing_rise": "missing_rate", "city": "unseen_categories"}
STEADY = {"stable", "plan"}


def frame(rows: int, seed: int, shifted: bool) -> pd.DataFrame:
    """A reference (``shifted=False``) or a current window with every shift applied.

    mean_shift: N(0, 1) to N(2.5, 1). variance_shift: N(0, 1) to N(0, 5). channel: shares
    (0.7, 0.2, 0.1) reversed. missing_rise: 20% of values go missing, the rest unchanged.
    city: a category the reference never had takes 2% of rows. stable, plan: unchanged.
    score: the model's prediction, unchanged.
    """
    rng = np.random.default_rng(seed)
    missing_rise = rng.normal(size=rows)
    if shifted:
        missing_rise[rng.random(rows) < 0.2] = np.nan
    cities = ["rio", "sp", "bh", "poa"]
    return pd.DataFrame(
        {
            "stable": rng.normal(size=rows),
            "mean_shift": rng.normal(2.5 if shifted else 0.0, 1.0, rows),
            "variance_shift": rng.normal(0.0, 5.0 if shifted else 1.0, rows),
            "missing_rise": missing_rise,
            "plan": rng.choice(["basic", "plus", "pro"], rows, p=[0.5, 0.3, 0.2]),
            "channel": rng.choice(
                ["web", "app", "store"], rows, p=[0.1, 0.2, 0.7] if shifted else [0.7, 0.2, 0.1]
            ),
            "city": rng.choice(
                cities, rows, p=[0.49, 0.29, 0.2, 0.02] if shifted else [0.5, 0.3, 0.2, 0.0]
            ),
            "score": rng.random(rows),
        }
    )
