"""The Open Inference Protocol (KServe V2) over HTTP: JSON tensors and binary tensor data.

Binary tensor data extension: when the request has an ``Inference-Header-Content-Length``
header, the body is that many bytes of JSON followed by the tensors whose ``parameters`` give a
``binary_data_size``, in input order, little-endian, row-major; a BYTES element is a 4-byte
little-endian length then the bytes. Outputs are returned the same way when the request asks
(``parameters.binary_data_output`` or an output's ``parameters.binary_data``), which is what
stock clients such as ``tritonclient.http`` do by default.

Inputs map to the signature in one of two ways: one tensor per column (named like the column,
shape ``[n]`` or ``[n, 1]``), or a single ``[n, columns]`` tensor in signature order. The
single output is named ``predictions``.

Errors have the protocol's shape, ``{"error": "message"}``, which ``tritonclient`` and KServe's
clients read; usina adds ``"field"`` naming the part of the request at fault, when it knows it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from usina.errors import InvalidInput
from usina.serving.codec import JSON, Encoded
from usina.serving.inputs import InputCheck, ModelInput, dumps

HEADER_LENGTH = "inference-header-content-length"
OUTPUT_NAME = "predictions"

DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("bool"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
_BY_KIND = {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64"}


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str
    array: np.ndarray


@dataclass(frozen=True)
class InferRequest:
    """A parsed infer request: its id, tensors, and whether outputs go back as binary."""

    id: str | None
    tensors: list[Tensor]
    binary_output: bool


def parse(body: bytes, header_length: str | None) -> InferRequest:
    """Parse a JSON or binary-extension infer request; ``InvalidInput`` names the bad part."""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise InvalidInput(
                f"Inference-Header-Content-Length {header_length!r} does not fit the body",
                field="Inference-Header-Content-Length",
            )
        split = int(header_length)
        head, binary = body[:split], memoryview(body)[split:]
    else:
        head, binary = body, memoryview(b"")
    try:
        payload = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request is not valid JSON: {exc}", field="body") from None
    if (
        type(payload) is not dict
        or not isinstance(payload.get("inputs"), list)
        or not payload["inputs"]
    ):
        raise InvalidInput(
            "the request needs 'inputs', a non-empty list of tensors", field="inputs"
        )
    tensors, offset = [], 0
    for i, spec in enumerate(payload["inputs"]):
        tensor, used = _tensor(spec, i, binary[offset:])
        tensors.append(tensor)
        offset += used
    if offset != len(binary):
        raise InvalidInput(
            f"the body has {len(binary) - offset} bytes of binary data no input claims",
            field="inputs",
        )
    params = payload.get("parameters") or {}
    outputs = payload.get("outputs") or []
    if not isinstance(outputs, list) or not isinstance(params, dict):
        raise InvalidInput("'outputs' must be a list and 'parameters' an object", field="outputs")
    binary_output = bool(params.get("binary_data_output", False))
    for out in outputs:
        name = out.get("name") if isinstance(out, dict) else None
        if name != OUTPUT_NAME:
            raise InvalidInput(
                f"unknown output {name!r}; this model has one output, {OUTPUT_NAME!r}",
                field="outputs",
            )
        binary_output = binary_output or bool((out.get("parameters") or {}).get("binary_data"))
    request_id = payload.get("id")
    return InferRequest(str(request_id) if request_id is not None else None, tensors, binary_output)


def _tensor(spec: Any, i: int, binary: memoryview) -> tuple[Tensor, int]:
    where = f"inputs[{i}]"
    if type(spec) is not dict:
        raise InvalidInput(f"{where} must be an object", field=where)
    name, shape, datatype = spec.get("name"), spec.get("shape"), spec.get("datatype")
    if not isinstance(name, str):
        raise InvalidInput(f"{where} needs a 'name'", field=where)
    where = f"input {name!r}"
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidInput(f"{where} needs 'shape', a list of non-negative integers", field=name)
    if datatype not in DTYPES and datatype != "BYTES":
        raise InvalidInput(
            f"{where} has datatype {datatype!r}; use one of {', '.join([*DTYPES, 'BYTES'])}",
            field=name,
        )
    count = math.prod(shape)
    size = (spec.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        if type(size) is not int or size < 0 or size > len(binary):
            raise InvalidInput(
                f"{where} binary_data_size {size!r} does not fit the body", field=name
            )
        raw = binary[:size]
        if datatype == "BYTES":
            array = _decode_bytes(raw, count, where, name)
        else:
            dtype = DTYPES[datatype]
            if size != count * dtype.itemsize:
                raise InvalidInput(
                    f"{where} has {size} bytes of data; shape {shape} of {datatype} needs "
                    f"{count * dtype.itemsize}",
                    field=name,
                )
            array = np.frombuffer(raw, dtype=dtype)
        return Tensor(name, datatype, array.reshape(shape)), size
    data = spec.get("data")
    if data is None:
        raise InvalidInput(f"{where} has neither 'data' nor a binary_data_size", field=name)
    try:
        dtype = DTYPES.get(datatype, np.dtype(object))
        array = np.array(data, dtype=dtype) if datatype != "BYTES" else np.array(data, dtype=object)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"{where} 'data' does not hold {datatype} values", field=name) from None
    if array.size != count:
        raise InvalidInput(
            f"{where} has {array.size} values; shape {shape} needs {count}", field=name
        )
    return Tensor(name, datatype, array.reshape(shape)), 0


def _decode_bytes(raw: memoryview, count: int, where: str, name: str) -> np.ndarray:
    items, pos = [], 0
    for _ in range(count):
        if pos + 4 > len(raw):
            raise InvalidInput(f"{where} BYTES data ends early", field=name)
        length = int.from_bytes(raw[pos : pos + 4], "little")
        pos += 4
        if pos + length > len(raw):
            raise InvalidInput(f"{where} BYTES data ends early", field=name)
        items.append(bytes(raw[pos : pos + length]))
        pos += length
    if pos != len(raw):
        raise InvalidInput(f"{where} has more BYTES data than its shape holds", field=name)
    return np.array(items, dtype=object)


def _as_text(values: list[Any]) -> list[Any]:
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]


def to_model_input(tensors: list[Tensor], check: InputCheck) -> ModelInput:
    """Map tensors onto the signature: one per column, or one ``[n, columns]`` tensor."""
    names = check.names
    if len(tensors) == 1 and (tensors[0].name not in check.index or len(names) == 1):
        tensor = tensors[0]
        array = tensor.array
        if array.ndim == 1:
            array = array.reshape(-1, 1) if len(names) == 1 else array.reshape(1, -1)
        if tensor.datatype == "BYTES":
            return check.records([_as_text(row) for row in array.tolist()], tensor.name)
        if tensor.datatype == "BOOL" or not check.numeric:
            return check.records(array.tolist(), tensor.name)
        return check.array(array, tensor.name)
    columns: dict[str, list[Any]] = {}
    for tensor in tensors:
        if tensor.name not in check.index:
            raise InvalidInput(
                f"unknown input {tensor.name!r}; the model takes {', '.join(names)} (one tensor "
                "per column) or a single [n, columns] tensor",
                field=tensor.name,
            )
        array = tensor.array
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise InvalidInput(
                f"input {tensor.name!r} must have shape [n] or [n, 1]", field=tensor.name
            )
        values = array.tolist()
        columns[tensor.name] = _as_text(values) if tensor.datatype == "BYTES" else values
    return check.columns(columns, "inputs")


# Signature column types to the datatype model metadata announces for them.
_BY_COLUMN = {
    "double": "FP64",
    "float": "FP32",
    "int64": "INT64",
    "int32": "INT32",
    "bool": "BOOL",
    "string": "BYTES",
}


def model_metadata(
    endpoint: str, serving: list[int], format: str, check: InputCheck, output_kind: str | None
) -> dict[str, Any]:
    """The model metadata answer (``GET /v2/models/{name}``) for a version of ``endpoint``:
    ``serving`` lists the versions serving on it, ``format`` is the version's model format."""
    return {
        "name": endpoint,
        "versions": [str(v) for v in serving],
        "platform": f"usina/{format}",
        "inputs": [
            {"name": c.name, "datatype": _BY_COLUMN.get(c.dtype, "BYTES"), "shape": [-1]}
            for c in check.signature.inputs
        ],
        "outputs": [
            {"name": OUTPUT_NAME, "datatype": datatype_of_kind(output_kind), "shape": [-1]}
        ],
    }


def datatype_of_kind(kind: str | None) -> str:
    """The V2 datatype predictions of NumPy kind ``kind`` are sent as (FP64 when unknown)."""
    if kind in ("O", "U", "S"):
        return "BYTES"
    return _BY_KIND.get(kind or "f", "FP64")


def encode(
    model: str, version: int, request_id: str | None, outputs: np.ndarray, binary: bool
) -> tuple[bytes, dict[str, str]]:
    """The infer response body and its extra headers."""
    array = np.asarray(outputs)
    if array.dtype.kind in "OUS":
        datatype = "BYTES"
    else:
        datatype = _BY_KIND.get(array.dtype.kind, "FP64")
        if datatype == "FP64" and array.dtype == np.float32:
            datatype = "FP32"
        array = array.astype(DTYPES[datatype], copy=False)
    shape = list(array.shape)
    output: dict[str, Any] = {"name": OUTPUT_NAME, "datatype": datatype, "shape": shape}
    head = {"model_name": model, "model_version": str(version), "outputs": [output]}
    if request_id is not None:
        head["id"] = request_id
    if not binary:
        output["data"] = (
            [str(v) for v in array.reshape(-1).tolist()]
            if datatype == "BYTES"
            else array.reshape(-1)
        )
        return dumps(head), {}
    if datatype == "BYTES":
        parts = []
        for value in array.reshape(-1).tolist():
            data = value if isinstance(value, bytes) else str(value).encode()
            parts.append(len(data).to_bytes(4, "little") + data)
        raw = b"".join(parts)
    else:
        raw = np.ascontiguousarray(array).tobytes()
    output["parameters"] = {"binary_data_size": len(raw)}
    json_part = orjson.dumps(head)
    return json_part + raw, {"Inference-Header-Content-Length": str(len(json_part))}


class OpenInferenceCodec:
    """The Open Inference Protocol's ``infer``: the parsed request is an :class:`InferRequest`."""

    name = "v2"

    def parse(self, body: bytes, headers: Mapping[str, str]) -> InferRequest:
        return parse(body, headers.get(HEADER_LENGTH))

    def build(self, request: InferRequest, check: InputCheck) -> ModelInput:
        return to_model_input(request.tensors, check)

    def request_id(self, request: InferRequest) -> str | None:
        return request.id

    def encode(
        self,
        request: InferRequest,
        endpoint: str,
        model: str,
        version: int,
        outputs: Any,
        outputs_json: bytes | None = None,
    ) -> Encoded:
        content, extra = encode(endpoint, version, request.id, outputs, request.binary_output)
        if extra:
            return content, "application/octet-stream", extra
        return content, JSON, None

    def error(self, status: int, message: str, field: str | None) -> bytes:
        if field is None:
            return orjson.dumps({"error": message})
        return orjson.dumps({"error": message, "field": field})


CODEC = OpenInferenceCodec()
