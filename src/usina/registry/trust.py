"""The trust list: which types a stored scikit-learn model may name.

skops trusts a few things by itself (built-in containers and scalars, numpy arrays and
ufuncs, scipy sparse matrices, and scikit-learn's public estimators) and reports every other
type a file names. usina accepts a reported type only when it is one of:

- a class **defined** in a ``sklearn.*`` module (its ``__module__`` and ``__qualname__`` are
  exactly the name in the file, so a standard-library class that a scikit-learn module
  merely imports, such as ``gzip.GzipFile`` seen through ``sklearn.datasets._covtype``, is
  refused) that is an estimator or a transformer (a ``BaseEstimator`` or ``TransformerMixin``
  subclass), or one of the helper types fitted models hold (``HELPER_BASES``);
- a numpy scalar type or dtype class defined in numpy;
- a function in ``TRUSTED_FUNCTIONS``, or a score function scikit-learn's own named scorers
  use.

Anything else is refused by name, before any object is built. Modules of scikit-learn's test
helpers are refused without being imported.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

# Functions a stored model may name: those FunctionTransformer commonly wraps, those
# scikit-learn stores itself (HistGradientBoosting with categorical features keeps a partial
# of check_array) and the score functions of the univariate feature selectors.
TRUSTED_FUNCTIONS = frozenset(
    [
        f"numpy.{name}"
        for name in (
            "log",
            "log1p",
            "exp",
            "expm1",
            "sqrt",
            "square",
            "abs",
            "absolute",
            "clip",
            "tanh",
        )
    ]
    + ["functools.partial", "sklearn.utils.validation.check_array"]
    + [
        f"sklearn.feature_selection._univariate_selection.{name}"
        for name in ("f_classif", "f_regression", "chi2", "r_regression")
    ]
    + [
        f"sklearn.feature_selection._mutual_info.{name}"
        for name in ("mutual_info_classif", "mutual_info_regression")
    ]
)

# Classes fitted models hold that are neither estimators nor transformers: tree storage,
# losses and links, distance metrics and neighbour trees, CV splitters and scorers kept by
# searches, optimizers of neural networks, calibrators. A class is accepted if it is one of
# these or a subclass defined in scikit-learn. Names missing from the installed version are
# skipped.
HELPER_BASES = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.loss.BaseLoss",
    "sklearn._loss.link.BaseLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss._loss.CyLossFunction",
    "sklearn.metrics._dist_metrics.DistanceMetric",
    "sklearn.metrics._scorer._BaseScorer",
    "sklearn.metrics._scorer._PassthroughScorer",
    "sklearn.metrics._scorer._MultimetricScorer",
    "sklearn.model_selection._split.BaseCrossValidator",
    "sklearn.model_selection._split.BaseShuffleSplit",
    "sklearn.model_selection._split._RepeatedSplits",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neural_network._stochastic_optimizers.BaseOptimizer",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.utils._bunch.Bunch",
)

# Module name parts of scikit-learn's test helpers: never imported while checking a file.
_TEST_MODULE_PARTS = ("tests", "conftest", "_testing", "_mocking", "_test_common")


def platform_trusts(type_name: str) -> bool:
    """Whether usina's trust list accepts ``type_name`` (``module.Name``) found in a file."""
    if type_name in TRUSTED_FUNCTIONS or type_name in _scorer_functions():
        return True
    module, _, attr = type_name.rpartition(".")
    root = module.split(".")[0]
    if root not in ("sklearn", "numpy") or not attr.isidentifier():
        return False
    if any(part.startswith(_TEST_MODULE_PARTS) for part in module.split(".")):
        return False
    obj = _resolve(module, attr)
    # Defined there, not imported there: a re-exported standard-library class fails here.
    if not isinstance(obj, type) or f"{obj.__module__}.{obj.__qualname__}" != type_name:
        return False
    if root == "numpy":
        import numpy as np

        return issubclass(obj, np.generic | np.dtype)
    from sklearn.base import BaseEstimator, TransformerMixin

    return issubclass(obj, (BaseEstimator, TransformerMixin, *_helper_bases()))


def _resolve(module: str, attr: str) -> Any:
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


@functools.cache
def _helper_bases() -> tuple[type, ...]:
    found = []
    for name in HELPER_BASES:
        module, _, attr = name.rpartition(".")
        obj = _resolve(module, attr)
        if isinstance(obj, type):
            found.append(obj)
    return tuple(found)


@functools.cache
def _scorer_functions() -> frozenset[str]:
    """The metric functions behind scikit-learn's named scorers (``scoring="roc_auc"``)."""
    try:
        from sklearn.metrics import get_scorer, get_scorer_names
    except ImportError:
        return frozenset()
    names = set()
    for scorer_name in get_scorer_names():
        func = getattr(get_scorer(scorer_name), "_score_func", None)
        if callable(func) and getattr(func, "__module__", "").startswith("sklearn."):
            names.add(f"{func.__module__}.{func.__qualname__}")
    return frozenset(names)
