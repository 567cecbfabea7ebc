"""Compiled predictors give exactly what the model's own ``predict`` gives, or are not used."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from usina.serving import fastpath
from usina.serving.fastpath import compile_predictor

RNG = np.random.default_rng(7)
X = RNG.normal(size=(400, 6))
BINARY = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
THREE = np.where(X[:, 0] > 0.5, "high", np.where(X[:, 0] < -0.5, "low", "mid"))
VALUE = 2 * X[:, 0] - X[:, 3] + RNG.normal(scale=0.1, size=400)

SUPPORTED = [
    GradientBoostingClassifier(n_estimators=30, random_state=0).fit(X, BINARY),
    GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X, THREE),
    GradientBoostingRegressor(n_estimators=30, random_state=0).fit(X, VALUE),
    RandomForestClassifier(n_estimators=15, random_state=0).fit(X, THREE),
    RandomForestRegressor(n_estimators=15, random_state=0).fit(X, VALUE),
    ExtraTreesClassifier(n_estimators=15, random_state=0).fit(X, BINARY),
    DecisionTreeClassifier(random_state=0).fit(X, THREE),
    DecisionTreeRegressor(random_state=0).fit(X, VALUE),
    LogisticRegression().fit(X, BINARY),
    LogisticRegression().fit(X, THREE),
    SGDClassifier(random_state=0).fit(X, BINARY),
    LinearRegression().fit(X, VALUE),
]


@pytest.mark.parametrize("model", SUPPORTED, ids=lambda m: type(m).__name__)
def test_fast_predictions_equal_the_models_own(model: Any) -> None:
    predictor = compile_predictor(model, X.shape[1])
    assert predictor is not None
    fresh = np.random.default_rng(11).normal(scale=3.0, size=(500, X.shape[1]))
    expected = model.predict(fresh)
    got = predictor(fresh)
    assert got.dtype == expected.dtype
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    else:
        np.testing.assert_array_equal(got, expected)
    # One row at a time, as most requests come.
    for row in fresh[:20]:
        one = predictor(row.reshape(1, -1))
        assert one.shape == (1,)
        assert one[0] == model.predict(row.reshape(1, -1))[0]


@pytest.mark.parametrize(
    "model",
    [
        HistGradientBoostingClassifier(max_iter=10).fit(X, BINARY),
        make_pipeline(StandardScaler(), LogisticRegression()).fit(X, BINARY),
        GradientBoostingClassifier(n_estimators=5, init=LogisticRegression()).fit(X, BINARY),
    ],
    ids=["hist-gradient-boosting", "pipeline", "gradient-boosting-with-fitted-init"],
)
def test_other_models_keep_their_own_predict(model: Any) -> None:
    assert compile_predictor(model, X.shape[1]) is None


def test_a_width_the_model_was_not_fitted_on_gets_no_fast_path() -> None:
    assert compile_predictor(SUPPORTED[0], X.shape[1] + 1) is None


def test_a_predictor_that_disagrees_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    model = LogisticRegression().fit(X, BINARY)
    # A predictor that is wrong on some rows, as one built on a changed internal layout
    # of a future scikit-learn might be.
    monkeypatch.setattr(fastpath, "_build", lambda m: lambda x: 1 - m.predict(x))
    assert compile_predictor(model, X.shape[1]) is None


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "predict"])
def test_served_answers_are_the_same_with_and_without_the_fast_path(
    endpoints: Any, serve: Any, gbc: Any, credit_data: Any, fast: bool
) -> None:
    client, store = endpoints
    x, _ = credit_data
    client.register_model(gbc, "credit-risk", input_example=x.head())
    store.create("credit", "models:/credit-risk/1")
    served = serve(client, fast_predict=fast)
    assert (served.service.runtime.routes["credit"].versions[0].fast is not None) is fast
    rows = x.sample(50, random_state=3)
    r = httpx.post(
        f"{served.url}/v1/endpoints/credit:predict",
        json={"instances": rows.to_dict(orient="records")},
    )
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == gbc.predict(rows).tolist()
