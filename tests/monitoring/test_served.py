"""A monitor over traffic the real serving app answered and logged: requests of one and of
several rows, through the Vertex protocol, labelled by request id and by a key column."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from resources.servers import ThreadServer
from resources.waiting import wait_until
from usina.monitoring.logwindow import connect

on_sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@on_sqlite
def test_a_monitor_reads_what_the_serving_app_logged(db_url: str, client_factory) -> None:  # type: ignore[no-untyped-def]
    from usina.serving import ServingConfig
    from usina.serving.app import create_app as create_serving_app

    client = client_factory(db_url)
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {
            "customer_id": np.arange(3000, dtype=float),
            "age": rng.normal(40, 10, 3000),
            "tenure": rng.uniform(0, 10, 3000),
        }
    )
    model = LogisticRegression().fit(train, train["tenure"] > 5)
    client.register_model(model, "credit-risk", input_example=train.head(3), reference=train)
    client.endpoints.create("credit", "models:/credit-risk/1")
    settings = ServingConfig(poll_interval=0.2, log_flush_interval=0.2, log_file_interval=0.2)
    app = create_serving_app(db_url, str(client.artifacts.root), settings)
    live = pd.DataFrame(
        {
            "customer_id": np.arange(400, dtype=float) + 3000,
            "age": rng.normal(60, 10, 400),
            "tenure": rng.uniform(0, 10, 400),
        }
    )
    records = live.to_dict(orient="records")
    started = time.time()
    with ThreadServer(app) as url:
        predict = f"{url}/v1/endpoints/credit:predict"
        for i in range(0, 300):
            body = {"instances": [records[i]]}
            answer = httpx.post(predict, json=body, headers={"X-Request-Id": f"one-{i}"})
            assert answer.status_code == 200, answer.text
        for i in range(300, 400, 10):  # ten requests of ten rows
            body = {"instances": records[i : i + 10]}
            answer = httpx.post(predict, json=body, headers={"X-Request-Id": f"ten-{i}"})
            assert answer.status_code == 200, answer.text

        def logged() -> bool:
            conn = connect(client.artifacts, "credit")
            return conn.execute("select count(*) from requests").fetchone()[0] == 310

        wait_until(logged, 30, "the request log to hold the 310 requests")
    truth = (live["tenure"] > 5).astype(int)
    labels = [{"request_id": f"one-{i}", "label": int(truth[i])} for i in range(300)]
    labels += [{"customer_id": 3000 + i, "label": int(truth[i])} for i in range(300, 400)]
    receipt = client.labels.ingest("credit", labels)
    assert (receipt.stored, receipt.replaced) == (400, 0)
    rows = {(x.request_id, x.row) for x in client.labels.list("credit")}
    assert ("ten-310", 3) in rows, "a key column names its row of a request of several"

    client.monitors.create(
        {"name": "served", "endpoint": "credit", "window": "1h", "drift_threshold": 0.1}
    )
    run = client.monitors.run("served", end=time.time() + 1)
    assert run.window_start <= started
    (version,) = run.figures["versions"]
    assert version["figures"]["requests"] == 310
    assert version["labelled"] == 400
    expected = model.predict(live)
    assert version["figures"]["accuracy"] == pytest.approx(float(np.mean(expected == truth)))
    drifted = {f for f, d in version["drift"].items() if d["drifted"] and not d["prediction"]}
    assert "age" in drifted and "tenure" not in drifted
