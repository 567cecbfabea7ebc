"""Stored bytes are verified, and hostile model files never run."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from resources.payloads import StatePayload, pickle_payload, skops_constructor_call
from usina.artifacts import blob_key, put_bytes
from usina.errors import IntegrityError, UnsafeModel
from usina.registry import Signature
from usina.registry.trust import platform_trusts


def _plant(client, name: str, data: bytes, fmt: str):  # type: ignore[no-untyped-def]
    """Register raw bytes as a version, as someone with write access to the stores could."""
    blob = put_bytes(client.artifacts, data)
    return client.registry.create_version(
        name,
        digest=blob.digest,
        size=blob.size,
        format=fmt,
        model_class="sklearn.linear_model._logistic.LogisticRegression",
        signature=Signature(),
        metrics={},
    )


def test_a_flipped_byte_is_refused_on_load(sqlite_url, client_factory, pipeline_model) -> None:
    client = client_factory(sqlite_url)
    v = client.register_model(pipeline_model, "m")
    path = Path(client.artifacts.root, blob_key(v.digest))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="is corrupted"):
        client.load_model("models:/m/1")


def test_a_pickle_payload_posing_as_sklearn_is_refused(
    sqlite_url, client_factory, tmp_path
) -> None:
    client = client_factory(sqlite_url)
    marker = tmp_path / "pwned"
    _plant(client, "m", pickle_payload(str(marker)), "sklearn")
    with pytest.raises(UnsafeModel, match="not a valid skops file"):
        client.load_model("models:/m/1")
    assert not marker.exists()


def test_a_pickle_is_never_loaded_without_trust(sqlite_url, client_factory, tmp_path) -> None:
    client = client_factory(sqlite_url)
    marker = tmp_path / "pwned"
    _plant(client, "m", pickle_payload(str(marker)), "pickle")
    with pytest.raises(UnsafeModel, match="trusted=True"):
        client.load_model("models:/m/1")
    assert not marker.exists()
    # The payload is real: trusting it runs it.
    assert pickle.loads(pickle_payload(str(marker))) is None
    assert marker.exists()


def test_a_skops_file_naming_an_untrusted_type_is_refused(
    sqlite_url, client_factory, tmp_path
) -> None:
    import skops.io as sio

    client = client_factory(sqlite_url)
    marker = tmp_path / "pwned"
    payload = StatePayload.__new__(StatePayload)
    payload.__dict__["marker"] = str(marker)
    _plant(client, "m", bytes(sio.dumps(payload)), "sklearn")
    with pytest.raises(
        UnsafeModel, match=r"outside usina's trust list: resources\.payloads\.StatePayload"
    ):
        client.load_model("models:/m/1")
    assert not marker.exists()


def test_a_skops_file_calling_an_arbitrary_function_is_refused(sqlite_url, client_factory) -> None:
    import os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    client = client_factory(sqlite_url)
    _plant(client, "m", bytes(sio.dumps(FunctionTransformer(os.system))), "sklearn")
    with pytest.raises(UnsafeModel, match=r"posix\.system"):
        client.load_model("models:/m/1")


def test_an_unknown_format_is_refused(sqlite_url, client_factory) -> None:
    client = client_factory(sqlite_url)
    _plant(client, "m", b"whatever", "onnx-from-the-future")
    with pytest.raises(UnsafeModel, match=r"unknown model format"):
        client.load_model("models:/m/1")


# -- the crafted-artifact corpus -----------------------------------------------------------------
# Each file would create ``marker`` if it were ever built; each is refused at load by name.


def _constructor_payloads(marker: Path) -> list[tuple[str, bytes]]:
    return [
        # gzip.GzipFile, imported by a scikit-learn module: the old rule (any class reachable
        # from a sklearn.* module) accepted it, and building it creates the file.
        (
            "sklearn.datasets._covtype.GzipFile",
            skops_constructor_call("sklearn.datasets._covtype", "GzipFile", str(marker), "wb"),
        ),
        (
            "builtins.eval",
            skops_constructor_call(
                "builtins", "eval", f"__import__('pathlib').Path({str(marker)!r}).touch()"
            ),
        ),
        ("os.system", skops_constructor_call("os", "system", f"touch '{marker}'")),
    ]


@pytest.mark.parametrize("case", range(3), ids=["reexported-stdlib", "builtins-eval", "os-system"])
def test_crafted_skops_files_are_refused_by_name(
    sqlite_url, client_factory, tmp_path, case
) -> None:
    marker = tmp_path / "pwned"
    type_name, data = _constructor_payloads(marker)[case]
    client = client_factory(sqlite_url)
    _plant(client, "m", data, "sklearn")
    with pytest.raises(UnsafeModel, match=rf"outside usina's trust list: {type_name}; "):
        client.load_model("models:/m/1")
    assert not marker.exists()


@pytest.mark.parametrize("case", range(3), ids=["reexported-stdlib", "builtins-eval", "os-system"])
def test_the_crafted_skops_files_are_real(tmp_path, case) -> None:
    """Trusting the named type does build it and creates the marker: the refusal matters."""
    import skops.io as sio

    marker = tmp_path / "pwned"
    type_name, data = _constructor_payloads(marker)[case]
    assert sio.get_untrusted_types(data=data) == [type_name]
    built = sio.loads(data, trusted=[type_name])
    if hasattr(built, "close"):
        built.close()
    assert marker.exists()


def test_a_pickle_registered_as_skops_is_refused_without_running(
    sqlite_url, client_factory, tmp_path
) -> None:
    client = client_factory(sqlite_url)
    marker = tmp_path / "pwned"
    _plant(client, "m", pickle_payload(str(marker)), "sklearn")
    with pytest.raises(UnsafeModel, match="is not a valid skops file"):
        client.load_model("models:/m/1", trusted=True)
    assert not marker.exists()


def test_the_trust_list_takes_estimators_and_helpers_defined_in_scikit_learn() -> None:
    accepted = [
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.tree._tree.Tree",
        "sklearn.model_selection._split.StratifiedKFold",
        "sklearn.metrics._scorer._Scorer",
        "sklearn.metrics._classification.accuracy_score",
        "sklearn.utils._bunch.Bunch",
        "numpy.float64",
        "numpy.dtype",
        "numpy.log1p",
    ]
    refused = [
        # standard-library classes that scikit-learn modules import
        "sklearn.datasets._covtype.GzipFile",
        "sklearn.datasets._covtype.TemporaryDirectory",
        "sklearn.utils._testing.CalledProcessError",
        "sklearn.callback._transport.Listener",
        "sklearn.base.defaultdict",
        # defined in scikit-learn, but neither an estimator nor a listed helper
        "sklearn.utils._param_validation.Interval",
        "sklearn.utils._testing.TempMemmap",
        # functions outside the explicit list
        "sklearn.datasets._base.load_iris",
        "numpy.load",
        "os.system",
        "builtins.eval",
    ]
    assert [name for name in accepted if not platform_trusts(name)] == []
    assert [name for name in refused if platform_trusts(name)] == []


def test_every_common_fitted_model_still_loads(sqlite_url, client_factory) -> None:
    import numpy as np
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
        StackingClassifier,
    )
    from sklearn.feature_selection import SelectKBest
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    models = [
        RandomForestClassifier(n_estimators=3, random_state=0),
        GradientBoostingClassifier(n_estimators=3),
        HistGradientBoostingClassifier(max_iter=3),
        StackingClassifier([("tree", DecisionTreeClassifier())]),
        CalibratedClassifierCV(LogisticRegression(), cv=2),
        GridSearchCV(
            LogisticRegression(), {"C": [0.5, 1]}, cv=StratifiedKFold(2), scoring="roc_auc"
        ),
        make_pipeline(SelectKBest(k=2), KNeighborsClassifier(algorithm="kd_tree")),
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=20),
    ]
    client = client_factory(sqlite_url)
    for model in models:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x, y)
        version = client.register_model(model, "zoo")
        loaded = client.load_model(version.uri)
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize("field", ["left_child", "feature"])
def test_a_tree_whose_indices_leave_its_arrays_is_refused(
    sqlite_url, client_factory, field
) -> None:
    """All its types are trusted; predicting with it would read outside the tree (a crash)."""
    import numpy as np
    import skops.io as sio
    from sklearn.tree import DecisionTreeClassifier

    x = np.random.default_rng(5).normal(size=(60, 3))
    model = DecisionTreeClassifier(max_depth=3).fit(x, (x[:, 0] > 0).astype(int))
    state = model.tree_.__getstate__()
    nodes = state["nodes"].copy()
    nodes[field][0] = 10**6
    state["nodes"] = nodes
    model.tree_.__setstate__(state)  # scikit-learn takes it as it is
    client = client_factory(sqlite_url)
    _plant(client, "m", bytes(sio.dumps(model)), "sklearn")
    with pytest.raises(UnsafeModel, match="inconsistent tree arrays"):
        client.load_model("models:/m/1")


def test_a_boosting_tree_whose_child_loops_back_is_refused(sqlite_url, client_factory) -> None:
    import numpy as np
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.random.default_rng(6).normal(size=(200, 3))
    model = HistGradientBoostingClassifier(max_iter=2).fit(x, (x[:, 0] > 0).astype(int))
    model._predictors[0][0].nodes["left"][0] = 0  # the root would be its own child
    client = client_factory(sqlite_url)
    _plant(client, "m", bytes(sio.dumps(model)), "sklearn")
    with pytest.raises(UnsafeModel, match="child index outside the tree"):
        client.load_model("models:/m/1")
