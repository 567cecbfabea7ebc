"""The request formats an endpoint speaks: one small protocol, one implementation per format.

A :class:`Codec` reads one protocol's request body, builds a loaded version's input from it,
encodes that version's predictions as the protocol's answer, and gives errors the protocol's
own shape. The app (``usina.serving.app``) holds the one table of predict routes and the codec
behind each; everything protocol-specific lives in the codec's module:

    Codec
     ├── vertex.VertexCodec                Vertex AI predict and rawPredict
     │     errors {"error": {"code", "message", "status", "details"}}
     ├── openinference.OpenInferenceCodec  Open Inference Protocol (KServe V2)
     │     errors {"error": message, "field"}
     └── mlflow_scoring.MlflowCodec        MLflow scoring (/invocations)
           errors {"error_code", "message", "field"}

Codecs are stateless singletons (``CODEC`` in each module). The parsed request is whatever the
codec finds cheapest to keep (Vertex keeps the instances list itself), so the predict path builds
no per-request object beyond what the protocol needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from usina.serving.inputs import InputCheck, ModelInput

JSON = "application/json"

R = TypeVar("R")

# An encoded answer: the body, its media type, and headers to add (or None).
Encoded = tuple[bytes, str, dict[str, str] | None]


class Codec(Protocol[R]):
    """How one protocol reads requests and writes answers and errors.

    Example, the Vertex AI codec on its own::

        from usina.serving.vertex import CODEC
        instances = CODEC.parse(b'{"instances": [[30, 5.0]]}', {})
        body = CODEC.error(400, "income must be a number", "income")
    """

    @property
    def name(self) -> str:
        """The protocol's label in metrics and the request log (``vertex``, ``v2``, ``mlflow``)."""
        ...

    def parse(self, body: bytes, headers: Mapping[str, str]) -> R:
        """Read a request body, checking only the protocol's structure.

        Raises:
            InvalidInput: naming the field, when the body is not this protocol's request.
        """
        ...

    def build(self, request: R, check: InputCheck) -> ModelInput:
        """The model input for a version whose signature is compiled into ``check``.

        Called once for the version that answers and again for a shadow version, whose
        signature may differ. Raises ``InvalidInput`` naming the field that does not fit.
        """
        ...

    def request_id(self, request: R) -> str | None:
        """The request id the body carries, if the protocol has one."""
        ...

    def encode(
        self,
        request: R,
        endpoint: str,
        model: str,
        version: int,
        outputs: Any,
        outputs_json: bytes | None = None,
    ) -> Encoded:
        """The answer to ``request``: ``version`` of ``model``, behind ``endpoint``, predicted
        ``outputs``; ``outputs_json``, when given, is their JSON (``jsonbytes.dumps``), made
        once for the answer and the request log."""
        ...

    def error(self, status: int, message: str, field: str | None) -> bytes:
        """The JSON error body, in this protocol's shape, for an answer with ``status``."""
        ...
