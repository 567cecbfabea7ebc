"""Vertex AI online prediction: ``POST /v1/endpoints/{name}:predict``.

Request ``{"instances": [...], "parameters": {...}}``, each instance an object (column to value)
or a list in signature order. Response ``{"predictions": [...], "deployedModelId": ...,
"model": ..., "modelDisplayName": ..., "modelVersionId": ...}`` as Vertex AI returns it, so code
written against a Vertex endpoint works against usina by changing the base URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from usina.errors import InvalidInput
from usina.serving.inputs import InputCheck, ModelInput, dumps


def parse(body: bytes) -> Callable[[InputCheck], ModelInput]:
    """The builder of model input for a Vertex AI predict body."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request is not valid JSON: {exc}", field="body") from None
    instances = payload.get("instances") if type(payload) is dict else None
    if instances is None:
        raise InvalidInput(
            'the request needs "instances": a list of objects or of lists in signature order',
            field="instances",
        )
    parameters = payload.get("parameters")
    if parameters is not None and type(parameters) is not dict:
        raise InvalidInput('"parameters" must be an object', field="parameters")
    return lambda check: check.records(instances, "instances")


def encode(endpoint: str, model: str, version: int, outputs: np.ndarray) -> bytes:
    """The Vertex AI response body."""
    body: dict[str, Any] = {
        "predictions": outputs,
        "deployedModelId": f"{endpoint}-{version}",
        "model": f"models:/{model}/{version}",
        "modelDisplayName": model,
        "modelVersionId": str(version),
    }
    return dumps(body)
