"""``usina serve`` answers the same through either HTTP parser (``USINA_SERVE_HTTP``): keep-alive
predictions, a malformed body's 400 and a streamed oversized body's 413."""

from __future__ import annotations

import httpx
import orjson
import pytest

from resources.fast_http import FastClient
from serving.conftest import protocol_error

ROW = {"age": 30, "income": 5.0, "debt": 1.0}
PATH = "/v1/endpoints/credit:predict"


@pytest.mark.slow
@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_both_parsers_serve_alike(three_versions, usina_serve, parser: str) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk/2", sample_rate=0.0)
    # Two workers: the path where the protocol, not asyncio, sets TCP_NODELAY.
    served = usina_serve(
        client, workers=2, USINA_SERVE_HTTP=parser, USINA_SERVE_MAX_BODY_BYTES="65536"
    )

    http = FastClient(served.url)
    answers = [http.post(PATH, orjson.dumps({"instances": [ROW] * (i % 3 + 1)})) for i in range(60)]
    http.close()
    for i, (status, version, body) in enumerate(answers):
        assert (status, version) == (200, "2")
        assert orjson.loads(body)["predictions"] == [20] * (i % 3 + 1)

    bad = httpx.post(
        served.url + PATH, content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 400 and protocol_error(bad)[1] == "body"

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b" " * 1024  # no Content-Length: the limit applies while streaming

    big = httpx.post(
        served.url + PATH, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert big.status_code == 413
    assert protocol_error(big)[0]
