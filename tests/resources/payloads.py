"""Hostile model files: each would create a marker file if it ever ran."""

from __future__ import annotations

import io
import itertools
import json
import pathlib
import pickle
import zipfile
from typing import Any


class ReducePayload:
    """Unpickling this calls ``Path.touch(marker)``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


class StatePayload:
    """Rebuilding this from state (as skops would) creates the marker."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __setstate__(self, state: dict) -> None:  # type: ignore[type-arg]
        pathlib.Path(state["marker"]).touch()
        self.__dict__.update(state)


def pickle_payload(marker: str) -> bytes:
    return pickle.dumps(ReducePayload(marker))


def skops_constructor_call(module: str, name: str, *args: str) -> bytes:
    """A skops file whose only object is ``module.name(*args)``, as skops would build it.

    skops rebuilds objects whose ``__reduce__`` is ``(type, args)`` by calling the named type
    with the stored arguments, so naming a function or a side-effecting class here runs it
    with these arguments if the type is trusted.
    """
    ids = itertools.count(1)

    def text(value: str) -> dict[str, Any]:
        return {
            "__class__": "str",
            "__module__": "builtins",
            "__loader__": "JsonNode",
            "content": json.dumps(value),
            "is_json": True,
            "__id__": next(ids),
        }

    root = {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": {
            "__class__": "tuple",
            "__module__": "builtins",
            "__loader__": "TupleNode",
            "content": [text(arg) for arg in args],
            "__id__": next(ids),
        },
        "__id__": next(ids),
        "protocol": 2,
        "_skops_version": "0.16.0",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(root))
    return buffer.getvalue()
