"""Hostile model files: each would create a marker file if it ever ran."""

from __future__ import annotations

import pathlib
import pickle


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
