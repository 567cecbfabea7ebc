"""Each protocol round-trips against a real server: Vertex AI, Open Inference (JSON and binary
tensors, with the stock tritonclient), and MLflow scoring (every input form and CSV)."""

from __future__ import annotations

import struct
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

from resources.requirements import require_extra
from resources.servers import ThreadServer
from usina.serving import ServingConfig, create_app


@pytest.fixture
def credit(endpoints, serve, gbc, credit_data):  # type: ignore[no-untyped-def]
    client, store = endpoints
    x, _ = credit_data
    client.register_model(gbc, "credit-risk", input_example=x.head())
    client.set_alias("credit-risk", "champion", 1)
    store.create("credit", "models:/credit-risk@champion")
    served = serve(client)
    rows = x.head(5)
    expected = gbc.predict(rows).tolist()
    return served, rows, expected


def test_vertex_instances_as_objects_and_lists(credit: Any) -> None:
    served, rows, expected = credit
    records = rows.to_dict(orient="records")
    lists = rows.to_numpy().tolist()
    for instances in (records, lists):
        r = httpx.post(
            f"{served.url}/v1/endpoints/credit:predict",
            json={"instances": instances, "parameters": {}},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["predictions"] == expected
        assert body["modelVersionId"] == "1"
        assert body["deployedModelId"] == "credit-1"
        assert r.headers["usina-model-version"] == "1"


def test_open_inference_metadata_health_and_readiness(credit: Any) -> None:
    served, _, _ = credit
    assert httpx.get(f"{served.url}/v2/health/live").status_code == 200
    assert httpx.get(f"{served.url}/v2/health/ready").status_code == 200
    server = httpx.get(f"{served.url}/v2").json()
    assert server["name"] == "usina" and "binary_tensor_data" in server["extensions"]
    meta = httpx.get(f"{served.url}/v2/models/credit").json()
    assert meta["name"] == "credit" and meta["versions"] == ["1"]
    assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [
        ("age", "INT64"),
        ("income", "FP64"),
        ("debt", "FP64"),
    ]
    assert meta["outputs"] == [{"name": "predictions", "datatype": "INT64", "shape": [-1]}]
    assert httpx.get(f"{served.url}/v2/models/credit/ready").status_code == 200
    assert httpx.get(f"{served.url}/v2/models/credit/versions/1/ready").status_code == 200
    assert httpx.get(f"{served.url}/v2/models/credit/versions/9/ready").status_code == 404
    assert httpx.get(f"{served.url}/v2/models/nope/ready").status_code == 404


def test_open_inference_json_tensors(credit: Any) -> None:
    served, rows, expected = credit
    per_column = {
        "id": "req-1",
        "inputs": [
            {"name": "age", "shape": [5], "datatype": "INT64", "data": rows["age"].tolist()},
            {
                "name": "income",
                "shape": [5, 1],
                "datatype": "FP64",
                "data": rows["income"].tolist(),
            },
            {"name": "debt", "shape": [5], "datatype": "FP64", "data": rows["debt"].tolist()},
        ],
    }
    matrix = {
        "inputs": [
            {
                "name": "input-0",
                "shape": [5, 3],
                "datatype": "FP64",
                "data": rows.to_numpy().tolist(),
            }
        ]
    }
    for body, path in (
        (per_column, "/v2/models/credit/infer"),
        (matrix, "/v2/models/credit/versions/1/infer"),
    ):
        r = httpx.post(served.url + path, json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["model_name"] == "credit" and out["model_version"] == "1"
        assert out["outputs"][0]["name"] == "predictions"
        assert out["outputs"][0]["shape"] == [5]
        assert out["outputs"][0]["data"] == expected
    assert r.headers["usina-model-version"] == "1"
    assert (
        httpx.post(served.url + "/v2/models/credit/infer", json=per_column).json()["id"] == "req-1"
    )


def test_open_inference_binary_tensors_by_hand(credit: Any) -> None:
    served, rows, expected = credit
    age = rows["age"].to_numpy().astype("<i8").tobytes()
    rest = rows[["income", "debt"]].to_numpy().astype("<f4")
    income, debt = rest[:, 0].tobytes(), rest[:, 1].tobytes()
    head = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "age",
                    "shape": [5],
                    "datatype": "INT64",
                    "parameters": {"binary_data_size": len(age)},
                },
                {
                    "name": "income",
                    "shape": [5],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(income)},
                },
                {
                    "name": "debt",
                    "shape": [5],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(debt)},
                },
            ],
            "outputs": [{"name": "predictions", "parameters": {"binary_data": True}}],
        }
    )
    r = httpx.post(
        f"{served.url}/v2/models/credit/infer",
        content=head + age + income + debt,
        headers={
            "Inference-Header-Content-Length": str(len(head)),
            "Content-Type": "application/octet-stream",
        },
    )
    assert r.status_code == 200, r.text
    split = int(r.headers["Inference-Header-Content-Length"])
    meta = orjson.loads(r.content[:split])
    output = meta["outputs"][0]
    assert output["datatype"] == "INT64" and output["parameters"]["binary_data_size"] == 40
    values = struct.unpack("<5q", r.content[split:])
    assert list(values) == expected


def test_open_inference_with_stock_tritonclient(credit: Any) -> None:
    http = require_extra("tritonclient.http", "dev")
    served, rows, expected = credit
    triton = http.InferenceServerClient(served.url.removeprefix("http://"))
    try:
        assert triton.is_server_live() and triton.is_server_ready()
        assert triton.is_model_ready("credit")
        assert triton.get_model_metadata("credit")["name"] == "credit"
        # Binary in, binary out: the client's defaults.
        tensor = http.InferInput("input-0", [5, 3], "FP64")
        tensor.set_data_from_numpy(rows.to_numpy(dtype=np.float64))
        result = triton.infer("credit", [tensor])
        assert result.as_numpy("predictions").tolist() == expected
        assert result.get_response()["model_version"] == "1"
        # One tensor per column, JSON in, JSON out.
        inputs = []
        for name, dtype, kind in (
            ("age", "INT64", np.int64),
            ("income", "FP64", np.float64),
            ("debt", "FP32", np.float32),
        ):
            t = http.InferInput(name, [5], dtype)
            t.set_data_from_numpy(rows[name].to_numpy().astype(kind), binary_data=False)
            inputs.append(t)
        outputs = [http.InferRequestedOutput("predictions", binary_data=False)]
        result = triton.infer("credit", inputs, outputs=outputs, model_version="1")
        assert result.as_numpy("predictions").tolist() == expected
    finally:
        triton.close()


@pytest.mark.parametrize(
    "form",
    ["dataframe_split", "dataframe_records", "instances", "inputs_columns", "inputs_rows", "csv"],
)
def test_mlflow_invocations(credit: Any, form: str) -> None:
    served, rows, expected = credit
    shuffled = rows[["debt", "age", "income"]]  # column order of the caller's own
    if form == "csv":
        kwargs: dict[str, Any] = {
            "content": shuffled.to_csv(index=False),
            "headers": {"Content-Type": "text/csv"},
        }
    else:
        payload = {
            "dataframe_split": {
                "dataframe_split": orjson.loads(shuffled.to_json(orient="split", index=False))
            },
            "dataframe_records": {"dataframe_records": shuffled.to_dict(orient="records")},
            "instances": {"instances": shuffled.to_dict(orient="records")},
            "inputs_columns": {"inputs": {c: shuffled[c].tolist() for c in shuffled}},
            "inputs_rows": {"inputs": rows.to_numpy().tolist()},
        }[form]
        kwargs = {"json": payload}
    for path in ("/invocations", "/v1/endpoints/credit/invocations"):
        r = httpx.post(served.url + path, **kwargs)
        assert r.status_code == 200, r.text
        assert r.json() == {"predictions": expected}
        assert r.headers["usina-model-version"] == "1"


def test_mlflow_ping(credit: Any) -> None:
    served, _, _ = credit
    assert httpx.get(f"{served.url}/ping").status_code == 200


def test_string_columns_and_string_labels(endpoints, serve) -> None:  # type: ignore[no-untyped-def]
    """A pipeline over a categorical column, predicting string labels, through every protocol."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    client, store = endpoints
    x = pd.DataFrame({"state": ["SP", "RJ", "MG", "SP"] * 10, "amount": np.arange(40.0)})
    y = np.where(x["state"] == "RJ", "deny", "approve")
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["state"]), remainder="passthrough"
        ),
        LogisticRegression(),
    ).fit(x, y)
    client.register_model(model, "approval", input_example=x.head())
    store.create("approval", "models:/approval/1")
    served = serve(client)
    r = httpx.post(
        f"{served.url}/v1/endpoints/approval:predict",
        json={"instances": [{"state": "RJ", "amount": 3.0}]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == ["deny"]
    r = httpx.post(
        f"{served.url}/v2/models/approval/infer",
        json={
            "inputs": [
                {"name": "state", "shape": [1], "datatype": "BYTES", "data": ["SP"]},
                {"name": "amount", "shape": [1], "datatype": "FP64", "data": [1.0]},
            ]
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0] == {
        "name": "predictions",
        "datatype": "BYTES",
        "shape": [1],
        "data": ["approve"],
    }


def test_predict_paths_answer_as_the_router_would(credit: Any, endpoints: Any) -> None:
    """A predict POST skips Starlette's router; every other request on the same paths, and
    any request under a root path, still goes through it."""
    served, rows, expected = credit
    instances = rows.to_numpy().tolist()
    r = httpx.put(f"{served.url}/v1/endpoints/credit:predict", json={"instances": instances})
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    r = httpx.post(f"{served.url}/v3/models/credit/infer", json={"instances": instances})
    assert r.status_code == 404
    for path in (
        "/v1/endpoints/credit:predict",
        "/v1/projects/p/locations/l/endpoints/credit:predict",
        "/v1/projects/p/locations/l/endpoints/credit:rawPredict",
    ):
        r = httpx.post(f"{served.url}{path}", json={"instances": instances})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == expected
    r = httpx.post(f"{served.url}/v1/endpoints/nope:predict", json={"instances": instances})
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"

    client, _ = endpoints
    app = create_app(client.db, client.artifacts, ServingConfig(log_out_of_process=False))
    with ThreadServer(app, lifespan="on", root_path="/ml") as url:
        r = httpx.post(f"{url}/v1/endpoints/credit:predict", json={"instances": instances})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == expected
