"""Finding a pipeline by reference (``src/pipeline.py:training`` or ``pkg.module:training``) and
reading ``-p key=value`` parameters by the types the pipeline declares."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import orjson

from usina.errors import InvalidInput
from usina.pipelines.dsl import Pipeline


def load_pipeline(ref: str) -> Pipeline:
    """The ``@usina.pipeline`` object ``ref`` names.

    Raises:
        InvalidInput: the reference is malformed, the file or module is missing, or the name is
            not a pipeline.
    """
    where, sep, attr = ref.rpartition(":")
    if not sep or not where or not attr.isidentifier():
        raise InvalidInput(
            f"pipeline reference {ref!r} is not FILE.py:NAME or package.module:NAME; "
            "for example src/pipeline.py:training",
            field="pipeline",
        )
    if where.endswith(".py") or "/" in where:
        module = _load_file(Path(where), ref)
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as exc:
            raise InvalidInput(
                f"pipeline reference {ref!r}: no module {exc.name!r}; give a file path "
                "(src/pipeline.py:NAME) or an importable module",
                field="pipeline",
            ) from None
    obj = getattr(module, attr, None)
    if obj is None:
        names = sorted(k for k, v in vars(module).items() if isinstance(v, Pipeline))
        raise InvalidInput(
            f"{where} has no {attr!r}; its pipelines: {', '.join(names) or 'none'}",
            field="pipeline",
        )
    if not isinstance(obj, Pipeline):
        raise InvalidInput(
            f"{ref} is a {type(obj).__name__}, not a pipeline; decorate it with @usina.pipeline",
            field="pipeline",
        )
    return obj


def _load_file(path: Path, ref: str) -> Any:
    if not path.is_file():
        raise InvalidInput(f"pipeline reference {ref!r}: no file {str(path)!r}", field="pipeline")
    path = path.resolve()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve() == path:
            return module
    # Like `python FILE.py`: the file's folder is importable, so it can import its neighbours.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    name = f"usina_pipeline_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidInput(f"cannot import {str(path)!r} as Python", field="pipeline")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_params(pipeline: Pipeline, items: list[str]) -> dict[str, Any]:
    """``["C=0.5", "name=x"]`` as values of the types the pipeline's parameters declare."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(
                f"-p {item!r} is not KEY=VALUE; for example -p C=0.5", field="params"
            )
        spec = pipeline.graph.params.get(key)
        if spec is None:
            known = ", ".join(pipeline.graph.params) or "none"
            raise InvalidInput(
                f"-p {item}: pipeline {pipeline.name!r} has no parameter {key!r} "
                f"(parameters: {known})",
                field=key,
            )
        values[key] = _convert(key, text, spec.kind[1])
    return values


def _convert(key: str, text: str, tp: Any) -> Any:
    try:
        if tp is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
        if tp is str:
            return text
        if tp in (list, dict):
            value = orjson.loads(text)
            if not isinstance(value, tp):
                raise ValueError(text)
            return value
    except (ValueError, orjson.JSONDecodeError):
        name = getattr(tp, "__name__", "JSON")
        raise InvalidInput(
            f"-p {key}={text}: parameter {key!r} is {name}; give a value of that type", field=key
        ) from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
