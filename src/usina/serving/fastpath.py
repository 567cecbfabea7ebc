"""Compiled predictors: common scikit-learn models answered without scikit-learn's call checks.

A one-row ``predict`` on a scikit-learn estimator spends most of its time checking the input
again (dtype, finiteness, feature names, dataframe detection): about 0.4 ms of a 0.5 ms call for
a 100-tree ``GradientBoostingClassifier`` with scikit-learn 1.9. The serving path has already
checked the input against the version's signature (a finite float64 matrix of the right width),
so for the estimators below it calls the same fitted arrays and the same compiled routines
scikit-learn's ``predict`` calls, and skips the second check:

- linear models whose ``predict`` is scikit-learn's linear one (``LinearRegression``, ``Ridge``,
  ``Lasso``, ``LogisticRegression``, ``SGDClassifier``, ...): ``X @ coef.T + intercept``;
- decision trees and extra trees: the fitted tree's ``predict``;
- random forests and extra-trees ensembles: the trees' outputs summed in the order
  scikit-learn sums them (without its per-call thread pool);
- gradient boosting whose initial estimator is a constant (the default): the initial raw
  prediction, computed once, plus scikit-learn's ``predict_stages``.

A predictor is used only after it agrees with the model's own ``predict`` on a set of rows at
load time (identical labels; values equal to 1e-12 relative); otherwise, or for any other model,
the version is served by ``model.predict``. ``USINA_SERVE_FAST_PREDICT=false`` turns it off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger("usina.serving")

Predictor = Callable[[np.ndarray], np.ndarray]


def compile_predictor(model: Any, width: int) -> Predictor | None:
    """A checked fast predictor for ``model`` taking a finite float64 matrix of ``width``
    columns, or ``None`` when the model is not one of the supported kinds or disagrees."""
    module = type(model).__module__
    if not module.startswith("sklearn.") or getattr(model, "n_features_in_", None) != width:
        return None
    if getattr(model, "n_outputs_", 1) != 1:
        return None
    try:
        predictor = _build(model)
    except Exception:  # an unexpected internal layout means no fast path
        log.debug("no fast predictor for %s", type(model).__name__, exc_info=True)
        return None
    if predictor is None:
        return None
    if not _agrees(model, predictor, width):
        log.warning(
            "the fast predictor for %s disagreed with its predict(); serving predict()",
            type(model).__name__,
        )
        return None
    return predictor


def _build(model: Any) -> Predictor | None:
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
    from sklearn.ensemble._forest import ForestClassifier, ForestRegressor
    from sklearn.linear_model import _base as linear
    from sklearn.tree import BaseDecisionTree, DecisionTreeClassifier

    LinearClassifierMixin, LinearModel = linear.LinearClassifierMixin, linear.LinearModel
    # Linear regressors' predict is LinearModel's, or a subclass's that only calls it.
    regressor_predicts = {LinearModel.predict}
    if (multi := getattr(linear, "MultiOutputLinearModel", None)) is not None:
        regressor_predicts.add(multi.predict)
    kind = type(model)
    if kind.predict in regressor_predicts and kind._decision_function is (
        LinearModel._decision_function
    ):
        return _linear_regressor(model)
    if (
        kind.predict is LinearClassifierMixin.predict
        and kind.decision_function is LinearClassifierMixin.decision_function
    ):
        return _linear_classifier(model)
    if kind.predict is BaseDecisionTree.predict:
        return _tree(model, classifier=hasattr(model, "classes_"))
    if (
        kind.predict is ForestClassifier.predict
        and kind.predict_proba is ForestClassifier.predict_proba
        and all(
            type(e).predict_proba is DecisionTreeClassifier.predict_proba for e in model.estimators_
        )
    ):
        return _forest_classifier(model)
    if kind.predict is ForestRegressor.predict and all(
        type(e).predict is BaseDecisionTree.predict for e in model.estimators_
    ):
        return _forest_regressor(model)
    for base in (GradientBoostingClassifier, GradientBoostingRegressor):
        if isinstance(model, base) and kind.predict is base.predict:
            return _gradient_boosting(model, classifier=base is GradientBoostingClassifier)
    return None


def _linear_regressor(model: Any) -> Predictor:
    coef = np.asarray(model.coef_)
    weights = coef if coef.ndim == 1 else coef.T
    intercept = model.intercept_

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(x @ weights + intercept)

    return predict


def _linear_classifier(model: Any) -> Predictor:
    coef = np.asarray(model.coef_)
    weights = coef.T if coef.ndim == 2 else coef
    intercept = model.intercept_
    classes = np.asarray(model.classes_)

    def predict(x: np.ndarray) -> np.ndarray:
        scores = x @ weights + intercept
        if scores.ndim > 1 and scores.shape[1] == 1:
            scores = scores.reshape(-1)
        indices = (scores > 0).astype(np.intp) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return np.asarray(classes.take(indices, axis=0))

    return predict


def _tree(model: Any, classifier: bool) -> Predictor:
    tree = model.tree_
    classes = np.asarray(model.classes_) if classifier else None

    def predict(x: np.ndarray) -> np.ndarray:
        values = tree.predict(np.ascontiguousarray(x, dtype=np.float32))
        if classes is not None:
            return np.asarray(classes.take(np.argmax(values, axis=1), axis=0))
        return np.asarray(values[:, 0])

    return predict


def _forest_classifier(model: Any) -> Predictor:
    trees = [e.tree_ for e in model.estimators_]
    n_classes = int(model.n_classes_)
    classes = np.asarray(model.classes_)
    count = len(trees)

    def predict(x: np.ndarray) -> np.ndarray:
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        proba = np.zeros((x32.shape[0], n_classes), dtype=np.float64)
        for tree in trees:
            proba += tree.predict(x32)[:, :n_classes]
        proba /= count
        return np.asarray(classes.take(np.argmax(proba, axis=1), axis=0))

    return predict


def _forest_regressor(model: Any) -> Predictor:
    trees = [e.tree_ for e in model.estimators_]
    count = len(trees)

    def predict(x: np.ndarray) -> np.ndarray:
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        total = np.zeros(x32.shape[0], dtype=np.float64)
        for tree in trees:
            total += tree.predict(x32)[:, 0]
        total /= count
        return total

    return predict


def _gradient_boosting(model: Any, classifier: bool) -> Predictor | None:
    from sklearn.ensemble._gradient_boosting import predict_stages

    init = model.init_
    constant = isinstance(init, str) and init == "zero"
    if not constant:
        name = type(init).__name__
        strategy = getattr(init, "strategy", None)
        constant = (name == "DummyRegressor") or (
            name == "DummyClassifier" and strategy in ("prior", "most_frequent", "constant")
        )
    if not constant:
        return None
    # The initial raw prediction of a constant estimator is the same row for every input.
    start = model._raw_predict_init(np.zeros((1, model.n_features_in_), dtype=np.float32))[0]
    estimators, rate = model.estimators_, model.learning_rate
    classes = np.asarray(model.classes_) if classifier else None

    def predict(x: np.ndarray) -> np.ndarray:
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        raw = np.tile(start, (x32.shape[0], 1))
        predict_stages(estimators, x32, rate, raw)
        if classes is None:
            return np.asarray(raw.ravel())
        binary = raw.shape[1] == 1
        encoded = (raw.ravel() >= 0).astype(int) if binary else np.argmax(raw, axis=1)
        return np.asarray(classes[encoded])

    return predict


def _agrees(model: Any, predictor: Predictor, width: int) -> bool:
    """Whether ``predictor`` gives what ``model.predict`` gives on rows around the origin at
    several scales (zeros, ones, and seeded normal draws)."""
    rng = np.random.default_rng(0)
    rows = [np.zeros((1, width)), np.ones((1, width))]
    rows += [rng.normal(scale=scale, size=(64, width)) for scale in (0.1, 1.0, 10.0, 1000.0)]
    sample = np.vstack(rows)
    try:
        expected = np.asarray(model.predict(sample))
        got = predictor(sample)
        one = predictor(sample[:1])
    except Exception:
        log.debug("fast predictor failed its check", exc_info=True)
        return False
    if got.shape != expected.shape or got.dtype.kind != expected.dtype.kind:
        return False
    if one.shape != expected[:1].shape:
        return False
    if expected.dtype.kind == "f":
        return bool(np.allclose(got, expected, rtol=1e-12, atol=0.0))
    return bool(np.array_equal(got, expected))
