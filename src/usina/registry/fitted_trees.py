"""Checks of the node arrays inside a loaded scikit-learn model, before anyone predicts with it.

skops checks the types in a file, not the values. scikit-learn's tree storage
(``sklearn.tree._tree.Tree`` and HistGradientBoosting's ``TreePredictor``) keeps child and
feature indices that prediction follows without bounds checks, so a crafted file whose types are
all trusted could still make ``predict`` read outside its arrays and crash the process. After a
skops load, every tree reachable from the model is checked: a child index points inside the
tree and after its parent (so no walk loops), a leaf has no children, a split's feature exists
in the estimator's input, and a categorical split's bitset exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from usina.errors import UnsafeModel


def check_fitted_trees(model: Any, model_class: str) -> None:
    """Raise ``UnsafeModel`` if a tree inside ``model`` has an index that leads outside it."""
    from sklearn.tree._tree import Tree

    seen: set[int] = set()
    stack = [model]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | bool | type(None)):
            continue
        seen.add(id(obj))
        tree = getattr(obj, "tree_", None)
        if isinstance(tree, Tree):
            _check_tree(tree, getattr(obj, "n_features_in_", tree.n_features), model_class)
        predictors = getattr(obj, "_predictors", None)
        if predictors is not None and hasattr(obj, "n_features_in_"):
            for number, predictor in enumerate(np.ravel(np.asarray(predictors, dtype=object))):
                _check_predictor(predictor, obj.n_features_in_, number, model_class)
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple):
            stack.extend(obj)
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend(obj.ravel())
        elif type(obj).__module__.startswith("sklearn.") and hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())


def _check_tree(tree: Any, n_features: int, model_class: str) -> None:
    if tree.n_features != n_features:
        raise _bad(model_class, f"a tree reads {tree.n_features} features of {n_features}")
    _check_nodes(
        np.asarray(tree.children_left),
        np.asarray(tree.children_right),
        np.asarray(tree.feature),
        np.asarray(tree.children_left) == -1,
        n_features,
        "a tree",
        model_class,
    )
    if np.asarray(tree.value).shape[0] != tree.node_count:
        raise _bad(model_class, "a tree has a value array of the wrong length")


def _check_predictor(predictor: Any, n_features: int, number: int, model_class: str) -> None:
    nodes = getattr(predictor, "nodes", None)
    if not isinstance(nodes, np.ndarray) or nodes.dtype.names is None:
        raise _bad(model_class, f"boosting tree {number} has no node array")
    leaf = nodes["is_leaf"].astype(bool)
    where = f"boosting tree {number}"
    _check_nodes(
        nodes["left"], nodes["right"], nodes["feature_idx"], leaf, n_features, where, model_class
    )
    categorical = ~leaf & nodes["is_categorical"].astype(bool)
    bitsets = len(getattr(predictor, "raw_left_cat_bitsets", ()))
    binned = len(getattr(predictor, "binned_left_cat_bitsets", ()))
    if categorical.any() and nodes["bitset_idx"][categorical].max() >= min(bitsets, binned):
        raise _bad(model_class, f"{where} names a missing category bitset")


def _check_nodes(
    left: np.ndarray,
    right: np.ndarray,
    feature: np.ndarray,
    leaf: np.ndarray,
    n_features: int,
    where: str,
    model_class: str,
) -> None:
    count = len(left)
    if len(right) != count or len(feature) != count or count == 0:
        raise _bad(model_class, f"{where} has node arrays of different lengths")
    index = np.arange(count)
    internal = ~leaf
    for child in (left, right):
        if ((child[internal] <= index[internal]) | (child[internal] >= count)).any():
            raise _bad(model_class, f"{where} has a child index outside the tree")
    split_on = feature[internal]
    if ((split_on < 0) | (split_on >= n_features)).any():
        raise _bad(model_class, f"{where} splits on a feature the model does not have")


def _bad(model_class: str, why: str) -> UnsafeModel:
    return UnsafeModel(
        f"the stored {model_class} has inconsistent tree arrays ({why}); predicting with it "
        "could crash the process, so it was not loaded"
    )
