"""Every class of bad input gets its 4xx naming what was wrong; client input never yields a 500."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resources.waiting import wait_until
from serving.conftest import protocol_error

GOOD = {"age": 30, "income": 5.0, "debt": 1.0}


@pytest.fixture
def served(endpoints, serve, gbc, credit_data):  # type: ignore[no-untyped-def]
    client, store = endpoints
    x, _ = credit_data
    client.register_model(gbc, "credit-risk", input_example=x.head())
    store.create("credit", "models:/credit-risk/1")
    return serve(client, max_body_bytes=64 * 1024)


VERTEX = "/v1/endpoints/credit:predict"
V2 = "/v2/models/credit/infer"
MLFLOW = "/invocations"


def _tensor(name: str, datatype: str, data: Any, shape: list[int] | None = None) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape or [1], "data": data}


CASES: list[tuple[str, str, Any, int, str]] = [
    # (case, path, body, status, field named in the answer)
    ("not json", VERTEX, b"{oops", 400, "body"),
    ("no instances", VERTEX, {"rows": []}, 400, "instances"),
    ("instances not a list", VERTEX, {"instances": {"age": 1}}, 400, "instances"),
    ("empty instances", VERTEX, {"instances": []}, 400, "instances"),
    ("missing field", VERTEX, {"instances": [{"age": 30, "income": 5.0}]}, 400, "debt"),
    ("extra field", VERTEX, {"instances": [{**GOOD, "zip": "01000"}]}, 400, "zip"),
    ("mistyped field", VERTEX, {"instances": [{**GOOD, "income": "high"}]}, 400, "income"),
    ("float for an integer", VERTEX, {"instances": [{**GOOD, "age": 30.5}]}, 400, "age"),
    ("boolean for a number", VERTEX, {"instances": [{**GOOD, "debt": True}]}, 400, "debt"),
    ("null field", VERTEX, {"instances": [{**GOOD, "age": None}]}, 400, "age"),
    ("short list", VERTEX, {"instances": [[30, 5.0]]}, 400, "instances[0]"),
    ("scalar instance", VERTEX, {"instances": [7]}, 400, "instances[0]"),
    ("parameters not an object", VERTEX, {"instances": [GOOD], "parameters": 3}, 400, "parameters"),
    ("huge integer", VERTEX, b'{"instances": [[1e999, 1, 1]]}', 400, "body"),
    ("v2 no inputs", V2, {"inputs": []}, 400, "inputs"),
    ("v2 bad datatype", V2, {"inputs": [_tensor("age", "COMPLEX", [1])]}, 400, "age"),
    (
        "v2 shape mismatch",
        V2,
        {"inputs": [_tensor("input-0", "FP64", [1, 2], [2, 3])]},
        400,
        "input-0",
    ),
    (
        "v2 wrong width",
        V2,
        {"inputs": [_tensor("input-0", "FP64", [1, 2], [1, 2])]},
        400,
        "input-0",
    ),
    (
        "v2 unknown tensor",
        V2,
        {"inputs": [_tensor("age", "INT64", [1]), _tensor("zip", "INT64", [1])]},
        400,
        "zip",
    ),
    (
        "v2 missing column",
        V2,
        {"inputs": [_tensor("age", "INT64", [1]), _tensor("income", "FP64", [1.0])]},
        400,
        "debt",
    ),
    (
        "v2 text in a number",
        V2,
        {"inputs": [_tensor("input-0", "FP64", ["a", "b", "c"], [1, 3])]},
        400,
        "input-0",
    ),
    (
        "v2 unknown output",
        V2,
        {"inputs": [_tensor("input-0", "FP64", [1, 2, 3], [1, 3])], "outputs": [{"name": "proba"}]},
        400,
        "outputs",
    ),
    ("mlflow no known key", MLFLOW, {"data": [[1, 2, 3]]}, 400, "body"),
    ("mlflow two keys", MLFLOW, {"instances": [GOOD], "inputs": [GOOD]}, 400, "body"),
    (
        "mlflow split without data",
        MLFLOW,
        {"dataframe_split": {"columns": ["age"]}},
        400,
        "dataframe_split",
    ),
    (
        "mlflow split repeats a column",
        MLFLOW,
        {
            "dataframe_split": {
                "columns": ["age", "age", "income", "debt"],
                "data": [[1, 1, 1.0, 1.0]],
            }
        },
        400,
        "age",
    ),
    (
        "mlflow ragged columns",
        MLFLOW,
        {"inputs": {"age": [1, 2], "income": [1.0], "debt": [1.0]}},
        400,
        "inputs",
    ),
]


@pytest.mark.parametrize(
    ("case", "path", "body", "status", "field"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input_is_a_4xx_naming_the_field(
    served: Any, case: str, path: str, body: Any, status: int, field: str
) -> None:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    r = httpx.post(served.url + path, content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    message, named = protocol_error(r)
    assert named == field, r.text
    assert message


def test_v2_binary_data_that_does_not_fit(served: Any) -> None:
    head = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [1, 3],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": 24},
                }
            ]
        }
    )
    for extra, header in (
        (b"\0" * 16, str(len(head))),
        (b"\0" * 32, str(len(head))),
        (b"\0" * 24, "999999"),
        (b"\0" * 24, "x"),
    ):
        r = httpx.post(
            served.url + V2,
            content=head + extra,
            headers={"Inference-Header-Content-Length": header},
        )
        assert r.status_code == 400, r.text


def test_csv_and_content_type_errors(served: Any) -> None:
    r = httpx.post(
        served.url + MLFLOW,
        content="age,income,debt\n30,rich,1\n",
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 400 and protocol_error(r)[1] == "income"
    r = httpx.post(
        served.url + MLFLOW, content="age,income\n", headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 400 and protocol_error(r)[1] == "body"
    r = httpx.post(
        served.url + MLFLOW, content=b"<xml/>", headers={"Content-Type": "application/xml"}
    )
    assert r.status_code == 400 and protocol_error(r)[1] == "content-type"


def test_oversized_body_is_413(served: Any) -> None:
    big = orjson.dumps({"instances": [GOOD] * 5000})
    assert len(big) > 64 * 1024
    r = httpx.post(served.url + VERTEX, content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert "limit" in protocol_error(r)[0]

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b" " * 1024  # no Content-Length: the limit applies while streaming

    r = httpx.post(
        served.url + VERTEX, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert "limit" in protocol_error(r)[0]


def test_unknown_endpoint_and_version_are_404(served: Any) -> None:
    r = httpx.post(served.url + "/v1/endpoints/nope:predict", json={"instances": [GOOD]})
    assert r.status_code == 404 and "'nope'" in protocol_error(r)[0]
    body = {"inputs": [_tensor("input-0", "FP64", [30, 5.0, 1.0], [1, 3])]}
    for version in ("7", "x"):
        r = httpx.post(served.url + f"/v2/models/credit/versions/{version}/infer", json=body)
        assert r.status_code == 404
        assert protocol_error(r) == (
            f"version {version!r} is not serving on 'credit'; serving: 1",
            "version",
        )
    r = httpx.post(served.url + "/v1/endpoints/nope/invocations", json={"instances": [GOOD]})
    assert r.status_code == 404 and protocol_error(r)[1] == "endpoint"
    # usina's own description route answers in the REST API's shape.
    r = httpx.get(served.url + "/v1/endpoints/nope")
    assert r.status_code == 404
    assert r.json() == {
        "error": {
            "code": "not_found",
            "message": "no endpoint 'nope' is served here",
            "field": "endpoint",
        }
    }


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "age",
                    "income",
                    "debt",
                    "x",
                    "inputs",
                    "instances",
                    "data",
                    "columns",
                    "name",
                    "shape",
                    "datatype",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from([VERTEX, V2, MLFLOW]), body=json_values)
def test_arbitrary_json_never_yields_a_5xx(served: Any, path: str, body: Any) -> None:
    try:
        content = orjson.dumps(body)
    except TypeError:  # integers beyond 64 bits: send them as text
        content = str(body).encode()
    r = httpx.post(served.url + path, content=content, headers={"Content-Type": "application/json"})
    assert r.status_code < 500, (body, r.text)


def test_bare_invocations_with_several_endpoints_is_a_400(served, endpoints) -> None:  # type: ignore[no-untyped-def]
    _, store = endpoints
    store.create("second", "models:/credit-risk/1")
    wait_until(lambda: "second" in served.service.runtime.routes, 30, "the new endpoint")
    r = httpx.post(served.url + MLFLOW, json={"instances": [GOOD]})
    assert r.status_code == 400 and protocol_error(r)[1] == "endpoint"
    assert (
        httpx.post(
            served.url + "/v1/endpoints/second/invocations", json={"instances": [GOOD]}
        ).status_code
        == 200
    )


def test_unknown_endpoint_names_do_not_become_metric_labels(served) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        httpx.post(f"{served.url}/v1/endpoints/made-up-{i}:predict", json={"instances": [GOOD]})
    assert "made-up" not in httpx.get(f"{served.url}/metrics").text
