"""LightGBM and XGBoost models round-trip through their native formats."""

from __future__ import annotations

import numpy as np
import pytest

from resources.requirements import require_extra

lightgbm = require_extra("lightgbm", "lightgbm")
xgboost = require_extra("xgboost", "xgboost")


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 4))
    return x, (x[:, 0] + x[:, 1] ** 2 > 0.8).astype(int)


def test_lightgbm_models_use_the_native_format(sqlite_url, client_factory, data) -> None:
    x, y = data
    client = client_factory(sqlite_url)
    model = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(x, y)
    v = client.register_model(model, "lgbm", input_example=x[:2])
    assert v.format == "lightgbm"
    booster = client.load_model("models:/lgbm/1")
    np.testing.assert_allclose(booster.predict(x), model.predict_proba(x)[:, 1])
    native = client.register_model(model.booster_, "lgbm")
    assert native.format == "lightgbm"


def test_xgboost_models_use_the_native_format(sqlite_url, client_factory, data) -> None:
    x, y = data
    client = client_factory(sqlite_url)
    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(x, y)
    v = client.register_model(model, "xgb", input_example=x[:2])
    assert v.format == "xgboost"
    loaded = client.load_model("models:/xgb/1")
    assert type(loaded).__name__ == "XGBClassifier"
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x))
    booster = client.register_model(model.get_booster(), "xgb")
    assert type(client.load_model(booster.uri)).__name__ == "Booster"
