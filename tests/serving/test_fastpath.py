"""Compiled predictors give exactly what the model's own ``predict`` gives, or are not used."""

from __future__ import annotations

from collections.abc import Callable
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

# Factories, so collecting the tests fits nothing: models are fitted when a test runs.
SUPPORTED: dict[str, Callable[[], Any]] = {
    "gradient-boosting-binary": lambda: GradientBoostingClassifier(
        n_estimators=30, random_state=0
    ).fit(X, BINARY),
    "gradient-boosting-3-classes": lambda: GradientBoostingClassifier(
        n_estimators=10, random_state=0
    ).fit(X, THREE),
    "gradient-boosting-regressor": lambda: GradientBoostingRegressor(
        n_estimators=30, random_state=0
    ).fit(X, VALUE),
    "random-forest": lambda: RandomForestClassifier(n_estimators=15, random_state=0).fit(X, THREE),
    "random-forest-regressor": lambda: RandomForestRegressor(n_estimators=15, random_state=0).fit(
        X, VALUE
    ),
    "extra-trees": lambda: ExtraTreesClassifier(n_estimators=15, random_state=0).fit(X, BINARY),
    "decision-tree": lambda: DecisionTreeClassifier(random_state=0).fit(X, THREE),
    "decision-tree-regressor": lambda: DecisionTreeRegressor(random_state=0).fit(X, VALUE),
    "logistic-binary": lambda: LogisticRegression().fit(X, BINARY),
    "logistic-3-classes": lambda: LogisticRegression().fit(X, THREE),
    "sgd": lambda: SGDClassifier(random_state=0).fit(X, BINARY),
    "linear-regression": lambda: LinearRegression().fit(X, VALUE),
}
UNSUPPORTED: dict[str, Callable[[], Any]] = {
    "hist-gradient-boosting": lambda: HistGradientBoostingClassifier(max_iter=10).fit(X, BINARY),
    "pipeline": lambda: make_pipeline(StandardScaler(), LogisticRegression()).fit(X, BINARY),
    "gradient-boosting-with-fitted-init": lambda: GradientBoostingClassifier(
        n_estimators=5, init=LogisticRegression()
    ).fit(X, BINARY),
}


@pytest.mark.parametrize("kind", SUPPORTED)
def test_fast_predictions_equal_the_models_own(kind: str) -> None:
    model = SUPPORTED[kind]()
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


@pytest.mark.parametrize("kind", UNSUPPORTED)
def test_other_models_keep_their_own_predict(kind: str) -> None:
    assert compile_predictor(UNSUPPORTED[kind](), X.shape[1]) is None


def test_a_width_the_model_was_not_fitted_on_gets_no_fast_path() -> None:
    assert compile_predictor(SUPPORTED["gradient-boosting-binary"](), X.shape[1] + 1) is None


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
