from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def training_data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(
        {
            "income": rng.normal(5000, 1500, 300),
            "age": rng.integers(18, 80, 300),
            "state": rng.choice(["SP", "RJ", "MG"], 300),
        }
    )
    y = ((x["income"] < 4500) ^ (x["state"] == "RJ")).astype(int).to_numpy()
    return x, y


@pytest.fixture(scope="session")
def pipeline_model(training_data) -> Any:  # type: ignore[no-untyped-def]
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x, y = training_data
    model = make_pipeline(
        make_column_transformer(
            (StandardScaler(), ["income", "age"]), (OneHotEncoder(), ["state"])
        ),
        LogisticRegression(),
    )
    return model.fit(x, y)
