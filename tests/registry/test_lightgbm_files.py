"""Malformed LightGBM files are refused with a clear error, and never crash the process."""

from __future__ import annotations

import re

import numpy as np
import pytest

from usina.artifacts import put_bytes
from usina.errors import UnsafeModel
from usina.registry import Signature

lightgbm = pytest.importorskip("lightgbm", reason="the lightgbm extra is not installed")


@pytest.fixture(scope="module")
def model_text() -> str:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] > 0).astype(int)
    model = lightgbm.LGBMClassifier(n_estimators=2, num_leaves=4, verbose=-1).fit(x, y)
    return str(model.booster_.model_to_string())


def _plant(client, data: bytes):  # type: ignore[no-untyped-def]
    blob = put_bytes(client.artifacts, data)
    return client.registry.create_version(
        "lgbm",
        digest=blob.digest,
        size=blob.size,
        format="lightgbm",
        model_class="lightgbm.basic.Booster",
        signature=Signature(),
        metrics={},
    )


def _first(pattern: str, repl: str, text: str) -> str:
    changed = re.sub(pattern, repl, text, count=1, flags=re.MULTILINE)
    assert changed != text, f"the fixture model has no {pattern!r}"
    return changed


# name, how to break the model text, what the error says
CASES = [
    ("not-text", lambda t: "\udcff", "not UTF-8 text"),
    ("no-header", lambda t: t.replace("tree\n", "", 1), "does not start with the line 'tree'"),
    ("bad-version", lambda t: _first(r"^version=v4$", "version=v99", t), "version 'v99'"),
    ("no-classes", lambda t: _first(r"^num_class=1\n", "", t), "no integer num_class"),
    (
        "feature-count",
        lambda t: _first(r"^max_feature_idx=2$", "max_feature_idx=7", t),
        "names 3 features but max_feature_idx says 8",
    ),
    # With tree_sizes present, LightGBM parses trees in threads and aborts the process on
    # this (a count that does not match the arrays) instead of raising.
    (
        "leaf-count",
        lambda t: _first(r"^num_leaves=4$", "num_leaves=999999999", t),
        "tree 0 has 4 leaf_value values, not 999999999",
    ),
    # Prediction would follow these indices outside the tree (a segmentation fault).
    (
        "child-out-of-range",
        lambda t: _first(r"^right_child=(\S+)", "right_child=100000", t),
        "tree 0 node 0 points at child 100000",
    ),
    (
        "feature-out-of-range",
        lambda t: _first(r"^split_feature=(\S+)", "split_feature=42", t),
        "tree 0 splits on feature 42",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_malformed_lightgbm_model_is_refused(
    sqlite_url, client_factory, model_text, case
) -> None:
    _, breaking, message = case
    broken = breaking(model_text)
    data = broken.encode("utf-8", "surrogateescape")
    client = client_factory(sqlite_url)
    v = _plant(client, data)
    with pytest.raises(UnsafeModel, match=re.escape(message)) as refused:
        client.load_model(v.uri)
    assert "is not a well-formed LightGBM model" in str(refused.value)


def test_the_checked_text_still_loads_and_predicts_the_same(
    sqlite_url, client_factory, model_text
) -> None:
    client = client_factory(sqlite_url)
    v = _plant(client, model_text.encode())
    loaded = client.load_model(v.uri)
    x = np.random.default_rng(4).normal(size=(20, 3))
    expected = lightgbm.Booster(model_str=model_text).predict(x)
    np.testing.assert_allclose(loaded.predict(x), expected)
