"""MLflow's scoring protocol: ``POST /invocations``.

JSON bodies carry exactly one of ``dataframe_split`` (``{"columns": [...], "data": [[...]]}``),
``dataframe_records`` (a list of objects), ``instances`` or ``inputs`` (a list of rows, or an
object of columns); ``text/csv`` bodies have a header row. The response is
``{"predictions": [...]}``, as ``mlflow models serve`` answers.

Errors have MLflow's shape, ``{"error_code": "BAD_REQUEST", "message": ...}``, with the
``error_code`` MLflow pairs with the HTTP status; usina adds ``"field"`` naming the part of the
request at fault, when it knows it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import orjson

from usina.errors import InvalidInput
from usina.serving.codec import JSON, Encoded
from usina.serving.inputs import InputCheck, ModelInput, dumps

KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def parse(body: bytes, content_type: str) -> Callable[[InputCheck], ModelInput]:
    """The builder of model input for an MLflow scoring body (JSON or CSV)."""
    if content_type.startswith("text/csv"):
        return _csv(body)
    if content_type and not content_type.startswith("application/json"):
        raise InvalidInput(
            f"content type {content_type!r} is not supported; send application/json or text/csv",
            field="content-type",
        )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request is not valid JSON: {exc}", field="body") from None
    given = [k for k in KEYS if type(payload) is dict and k in payload]
    if len(given) != 1:
        raise InvalidInput(
            f"the body must have exactly one of {', '.join(KEYS)}"
            + (f"; it has {', '.join(given)}" if given else ""),
            field="body",
        )
    key = given[0]
    value = payload[key]
    if key == "dataframe_split":
        if type(value) is not dict:
            raise InvalidInput("dataframe_split must be an object with columns and data", field=key)
        columns, data = value.get("columns"), value.get("data")
        return lambda check: check.split(columns, data, key)
    if key == "dataframe_records":
        return lambda check: check.records(value, key)
    if type(value) is dict:
        return lambda check: check.columns(value, key)
    return lambda check: check.records(value, key)


def _csv(body: bytes) -> Callable[[InputCheck], ModelInput]:
    try:
        reader = csv.reader(io.StringIO(body.decode("utf-8")))
        header = next(reader, None)
        rows = [row for row in reader if row]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"the CSV body cannot be read: {exc}", field="body") from None
    if not header or not rows:
        raise InvalidInput(
            "the CSV body needs a header row and at least one data row", field="body"
        )

    def build(check: InputCheck) -> ModelInput:
        converters = {
            name: _converter(kind) for name, kind in zip(check.names, check.kinds, strict=True)
        }
        records: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            if len(row) != len(header):
                raise InvalidInput(
                    f"CSV row {i + 1} has {len(row)} values; the header has {len(header)}",
                    field="body",
                )
            record = {}
            for name, text in zip(header, row, strict=True):
                convert = converters.get(name, str)
                try:
                    record[name] = convert(text)
                except ValueError:
                    raise InvalidInput(
                        f"CSV row {i + 1}: {text!r} is not valid for field {name!r}", field=name
                    ) from None
            records.append(record)
        return check.records(records, "csv")

    return build


_BOOLS = {"true": True, "false": False, "1": True, "0": False}


def _bool(text: str) -> bool:
    try:
        return _BOOLS[text.strip().lower()]
    except KeyError:
        raise ValueError(text) from None


def _converter(kind: str) -> Callable[[str], Any]:
    converters: dict[str, Callable[[str], Any]] = {"number": float, "integer": int, "bool": _bool}
    return converters.get(kind, str)


# MLflow's error codes (mlflow.protos.databricks_pb2) for the HTTP statuses usina answers.
ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "RESOURCE_DOES_NOT_EXIST",
    409: "RESOURCE_CONFLICT",
    413: "BAD_REQUEST",
    500: "INTERNAL_ERROR",
    501: "NOT_IMPLEMENTED",
    503: "TEMPORARILY_UNAVAILABLE",
}


class MlflowCodec:
    """MLflow scoring: the parsed request is the function that builds a version's input."""

    name = "mlflow"

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Callable[[InputCheck], ModelInput]:
        return parse(body, headers.get("content-type", ""))

    def build(self, request: Callable[[InputCheck], ModelInput], check: InputCheck) -> ModelInput:
        return request(check)

    def request_id(self, request: Callable[[InputCheck], ModelInput]) -> str | None:
        return None

    def encode(
        self,
        request: Callable[[InputCheck], ModelInput],
        endpoint: str,
        model: str,
        version: int,
        outputs: np.ndarray,
        outputs_json: bytes | None = None,
    ) -> Encoded:
        if outputs_json is not None:
            return b'{"predictions":' + outputs_json + b"}", JSON, None
        return dumps({"predictions": outputs}), JSON, None

    def error(self, status: int, message: str, field: str | None) -> bytes:
        body = {"error_code": ERROR_CODES.get(status, "INTERNAL_ERROR"), "message": message}
        if field is not None:
            body["field"] = field
        return orjson.dumps(body)


CODEC = MlflowCodec()
