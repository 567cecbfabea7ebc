"""Model formats: how a model becomes bytes and comes back, without running untrusted code.

scikit-learn estimators and pipelines are stored with skops and loaded against a trust list
the platform owns (:mod:`usina.registry.trust`); nothing listed in the file itself is ever
trusted on its say-so. LightGBM and XGBoost models use their native formats; a LightGBM model
is checked (:mod:`usina.registry.lightgbm_text`) before LightGBM parses it.
Arbitrary Python objects are pickled only when the caller says ``trusted=True``, and loading
them needs ``trusted=True`` again.
"""

from __future__ import annotations

import importlib
import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from usina.errors import InvalidInput, MissingDependency, UnsafeModel
from usina.registry.lightgbm_text import check_lightgbm_text
from usina.registry.trust import platform_trusts


@dataclass(frozen=True)
class ModelFormat:
    """How one family of models is saved and loaded."""

    name: str
    matches: Callable[[Any], bool]
    dump: Callable[[Any], bytes]
    load: Callable[[bytes, str], Any]


def class_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


# -- scikit-learn through skops ---------------------------------------------------------------


def _is_sklearn(obj: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:
        return False
    return isinstance(obj, BaseEstimator)


def _dump_skops(obj: Any) -> bytes:
    import skops.io as sio

    try:
        return bytes(sio.dumps(obj))
    except Exception as exc:
        raise InvalidInput(
            f"cannot save {class_name(obj)} with skops ({exc}); pass trusted=True to store it "
            "as a pickle you trust",
            field="model",
        ) from exc


def _load_skops(data: bytes, model_class: str) -> Any:
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # noqa: BLE001 - whatever fails to parse is not a skops file
        raise UnsafeModel(
            f"the stored {model_class} is not a valid skops file ({type(exc).__name__}); "
            "it was not loaded"
        ) from None
    refused = [name for name in untrusted if not platform_trusts(name)]
    if refused:
        raise UnsafeModel(
            f"the stored {model_class} refers to types outside usina's trust list: "
            f"{', '.join(sorted(refused))}; it was not loaded"
        )
    try:
        model = sio.loads(data, trusted=untrusted)
    except Exception as exc:  # noqa: BLE001 - a file of trusted types that still fails to build
        raise UnsafeModel(
            f"the stored {model_class} could not be rebuilt from its skops file "
            f"({type(exc).__name__}: {exc}); it was not loaded"
        ) from None
    from usina.registry.fitted_trees import check_fitted_trees  # numpy: only when loading

    check_fitted_trees(model, model_class)
    return model


# -- LightGBM and XGBoost native formats -------------------------------------------------------


def _is_module_type(obj: Any, package: str) -> bool:
    return type(obj).__module__.split(".")[0] == package


def _dump_lightgbm(obj: Any) -> bytes:
    booster = getattr(obj, "booster_", obj)
    return bytes(booster.model_to_string().encode())


def _load_lightgbm(data: bytes, model_class: str) -> Any:
    lightgbm = _optional("lightgbm", "lightgbm")
    text = check_lightgbm_text(data, model_class)
    try:
        return lightgbm.Booster(model_str=text)
    except lightgbm.basic.LightGBMError as exc:
        raise UnsafeModel(
            f"the stored {model_class} is not a well-formed LightGBM model ({exc}); "
            "it was not loaded"
        ) from None


def _dump_xgboost(obj: Any) -> bytes:
    return bytes(
        obj.get_booster().save_raw("ubj") if hasattr(obj, "get_booster") else obj.save_raw("ubj")
    )


def _load_xgboost(data: bytes, model_class: str) -> Any:
    xgboost = _optional("xgboost", "xgboost")
    wrappers = {
        "xgboost.sklearn.XGBClassifier": xgboost.XGBClassifier,
        "xgboost.sklearn.XGBRegressor": xgboost.XGBRegressor,
        "xgboost.sklearn.XGBRanker": xgboost.XGBRanker,
    }
    model = wrappers.get(model_class, xgboost.Booster)()
    model.load_model(bytearray(data))
    return model


def _optional(module: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(
            f"this model needs {module}: pip install 'usina[{extra}]'"
        ) from None


# -- pickle, only when trusted -----------------------------------------------------------------


def _dump_pickle(obj: Any) -> bytes:
    buffer = io.BytesIO()
    pickle.dump(obj, buffer, protocol=pickle.HIGHEST_PROTOCOL)
    return buffer.getvalue()


def _load_pickle(data: bytes, model_class: str) -> Any:
    return pickle.loads(data)


FORMATS: dict[str, ModelFormat] = {
    "lightgbm": ModelFormat(
        "lightgbm", lambda m: _is_module_type(m, "lightgbm"), _dump_lightgbm, _load_lightgbm
    ),
    "xgboost": ModelFormat(
        "xgboost", lambda m: _is_module_type(m, "xgboost"), _dump_xgboost, _load_xgboost
    ),
    "sklearn": ModelFormat("sklearn", _is_sklearn, _dump_skops, _load_skops),
    "pickle": ModelFormat("pickle", lambda m: True, _dump_pickle, _load_pickle),
}


def dump_model(model: Any, *, trusted: bool = False) -> tuple[str, bytes]:
    """Serialize ``model`` in the first format that fits; ``(format name, bytes)``."""
    for fmt in FORMATS.values():
        if fmt.name == "pickle":
            break
        if fmt.matches(model):
            return fmt.name, fmt.dump(model)
    if not trusted:
        raise InvalidInput(
            f"{class_name(model)} is not a scikit-learn, LightGBM or XGBoost model; pass "
            "trusted=True to store it as a pickle (loading it will need trusted=True too)",
            field="model",
        )
    return "pickle", _dump_pickle(model)


def load_model_bytes(data: bytes, format: str, model_class: str, *, trusted: bool = False) -> Any:
    """Rebuild a model from verified bytes, refusing anything outside the trust rules."""
    fmt = FORMATS.get(format)
    if fmt is None:
        raise UnsafeModel(f"unknown model format {format!r}; it was not loaded")
    if format == "pickle" and not trusted:
        raise UnsafeModel(
            f"{model_class} is stored as a pickle, which can run any code when loaded; "
            "load it with trusted=True only if you trust whoever registered it"
        )
    return fmt.load(data, model_class)
