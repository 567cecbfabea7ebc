"""The stock Vertex AI client, unchanged, against a real server: ``PredictionServiceClient`` over
REST with anonymous credentials posts to the full resource path and parses usina's answer, and
a bad instance raises the SDK's ``BadRequest`` with usina's message naming the field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from serving.conftest import GOOGLE_BAD_REQUEST, protocol_error

aiplatform_v1 = pytest.importorskip(
    "google.cloud.aiplatform_v1", reason="the vertex extra is not installed"
)

RESOURCE = "projects/my-project/locations/us-central1/endpoints/credit"


@pytest.fixture
def credit(endpoints, serve, gbc, credit_data):  # type: ignore[no-untyped-def]
    client, store = endpoints
    x, _ = credit_data
    client.register_model(gbc, "credit-risk", input_example=x.head())
    client.set_alias("credit-risk", "champion", 1)
    store.create("credit", "models:/credit-risk@champion")
    served = serve(client)
    rows = x.head(4)
    return served, rows, gbc.predict(rows).tolist()


def _sdk_client(url: str) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    # An api_endpoint with a scheme is used as given: plain HTTP to the loopback server.
    return aiplatform_v1.PredictionServiceClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options=ClientOptions(api_endpoint=url),
    )


def test_stock_sdk_predicts_on_the_resource_path(credit: Any) -> None:
    served, rows, expected = credit
    sdk = _sdk_client(served.url)
    for instances in (rows.to_dict(orient="records"), rows.to_numpy().tolist()):
        response = sdk.predict(endpoint=RESOURCE, instances=instances)
        # Vertex AI's predictions are protobuf Values: numbers arrive as floats.
        assert [int(p) for p in response.predictions] == expected
        assert response.deployed_model_id == "credit-1"
        assert response.model == "models:/credit-risk/1"
        assert response.model_version_id == "1"
        assert response.model_display_name == "credit-risk"


def test_stock_sdk_raises_bad_request_naming_the_field(credit: Any) -> None:
    from google.api_core import exceptions

    served, _, _ = credit
    sdk = _sdk_client(served.url)
    bad = {"age": 30, "income": "high", "debt": 1.0}
    with pytest.raises(exceptions.BadRequest) as caught:
        sdk.predict(endpoint=RESOURCE, instances=[bad])
    # The REST transport picks the class by HTTP status: 400 is BadRequest, the parent of the
    # InvalidArgument a gRPC client raises; Google's own REST answers get the same.
    assert caught.value.code == 400
    expected = "instances[0].income is str 'high'; field 'income' needs a number"
    # The SDK puts the method and URL before the server's message.
    assert f"/v1/{RESOURCE}:predict" in caught.value.message
    assert caught.value.message.endswith(f": {expected}")
    assert caught.value.details == [
        {
            "@type": GOOGLE_BAD_REQUEST,
            "fieldViolations": [{"field": "income", "description": expected}],
        }
    ]
    with pytest.raises(exceptions.NotFound) as missing:
        sdk.predict(endpoint=RESOURCE.replace("credit", "ghost"), instances=[bad])
    assert "'ghost'" in missing.value.message


def test_raw_predict_takes_the_predict_body(credit: Any) -> None:
    served, rows, expected = credit
    body = {"instances": rows.to_dict(orient="records")}
    r = httpx.post(f"{served.url}/v1/{RESOURCE}:rawPredict", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == expected
    assert r.json() == httpx.post(f"{served.url}/v1/{RESOURCE}:predict", json=body).json()
    r = httpx.post(f"{served.url}/v1/{RESOURCE}:rawPredict", json={"rows": []})
    assert r.status_code == 400 and protocol_error(r)[1] == "instances"
