"""Vertex AI online prediction, as the stock ``google-cloud-aiplatform`` client speaks it.

Paths: ``POST /v1/projects/{project}/locations/{location}/endpoints/{name}:predict`` (the
resource path the SDK posts to; project and location are accepted and not checked: a usina
server serves one set of endpoints), its short form ``POST /v1/endpoints/{name}:predict``, and
``:rawPredict`` on the resource path, which Vertex AI forwards to the model's container as it
came: usina's container speaks the predict body, so rawPredict takes and answers the same.

Request ``{"instances": [...], "parameters": {...}}``, each instance an object (column to value)
or a list in signature order. Response ``{"predictions": [...], "deployedModelId": ...,
"model": ..., "modelDisplayName": ..., "modelVersionId": ...}``: the fields of Vertex AI's
``PredictResponse``, so ``PredictionServiceClient.predict`` parses it unchanged.

Errors have Google's shape, ``{"error": {"code": 400, "message": ..., "status":
"INVALID_ARGUMENT", "details": [...]}}``; a 400 or 413 that names a field carries a
``google.rpc.BadRequest`` detail with it as a field violation. The SDK raises the
``google.api_core.exceptions`` class for the HTTP status (``BadRequest`` for a 400) with
usina's message, and the detail in its ``details``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from usina.errors import InvalidInput
from usina.serving.codec import JSON, Encoded
from usina.serving.inputs import InputCheck, ModelInput, dumps

# google.rpc.Code names for the HTTP statuses usina answers, as Google's REST APIs pair them.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


# The fields after "predictions" depend only on the version that answered: encoded once each.
# Bounded: a server with more (endpoint, version) pairs than this re-encodes them as needed.
MAX_TAILS = 1024
_TAILS: dict[tuple[str, str, int], bytes] = {}


def _tail(endpoint: str, model: str, version: int) -> bytes:
    """The rest of a predict response after its predictions: ``,"deployedModelId":...}``."""
    fields = {
        "deployedModelId": f"{endpoint}-{version}",
        "model": f"models:/{model}/{version}",
        "modelDisplayName": model,
        "modelVersionId": str(version),
    }
    return b"," + orjson.dumps(fields)[1:]


class VertexCodec:
    """Vertex AI ``predict``: the parsed request is the ``instances`` list itself."""

    name = "vertex"

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Any:
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
        return instances

    def build(self, request: Any, check: InputCheck) -> ModelInput:
        return check.records(request, "instances")

    def request_id(self, request: Any) -> str | None:
        return None

    def encode(
        self,
        request: Any,
        endpoint: str,
        model: str,
        version: int,
        outputs: np.ndarray,
        outputs_json: bytes | None = None,
    ) -> Encoded:
        key = (endpoint, model, version)
        tail = _TAILS.get(key)
        if tail is None:
            tail = _tail(endpoint, model, version)
            if len(_TAILS) >= MAX_TAILS:
                _TAILS.clear()
            _TAILS[key] = tail
        if outputs_json is None:
            outputs_json = dumps(outputs)
        return b'{"predictions":' + outputs_json + tail, JSON, None

    def error(self, status: int, message: str, field: str | None) -> bytes:
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": STATUS_NAMES.get(status, "UNKNOWN"),
        }
        if field is not None and status in (400, 413):
            violation = {"field": field, "description": message}
            error["details"] = [{"@type": BAD_REQUEST, "fieldViolations": [violation]}]
        return orjson.dumps({"error": error})


CODEC = VertexCodec()
