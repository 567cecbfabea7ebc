"""With a master key, a canary string sent through every write path never appears in clear on
disk, and every reader still sees it; without a key, the same paths store it in clear (so the
search below would find it if encryption let it through).

The paths: a model file and its reference summary, a run artifact, a pipeline step's output
table, a batch job's output table, the request log written by ``usina serve``'s writer
process, a secret in the metadata database, a topic's event (the embedded log beside the
database) and a dataset version. Metadata rows other than secrets (names,
params, signatures) are not encrypted, so the canary travels only in values.
"""

from __future__ import annotations

import signal
import uuid
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pytest

from resources import pipelines
from resources.fast_http import FastClient
from resources.keys import some_keys
from usina import Client
from usina.batch import run as run_batch
from usina.batch.query import connect_tables
from usina.datasets.api import load as load_dataset
from usina.datasets.api import save as save_dataset
from usina.monitoring.logwindow import connect
from usina.serving import SqlEndpointStore, query_log
from usina.topics.entities import TopicColumn, TopicSpec

CANARY = pipelines.CANARY


def _files_holding(root: Path, needle: bytes) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and needle in p.read_bytes()
    )


def _model(x: pd.DataFrame) -> Any:
    from sklearn.dummy import DummyClassifier

    labels = [CANARY] * (len(x) - 1) + ["other"]
    return DummyClassifier(strategy="constant", constant=CANARY).fit(x, labels)


@pytest.mark.parametrize("encrypted", [True, False], ids=["with-key", "without-key"])
def test_a_canary_never_reaches_the_disk_in_clear(
    encrypted: bool, tmp_path: Path, usina_serve: Any
) -> None:
    home = tmp_path / "home"
    keys = some_keys() if encrypted else None
    client = Client(f"sqlite:///{home / 'usina.db'}", str(home / "artifacts"), keys=keys)
    x = pd.DataFrame({"age": [30, 41, 52, 63], "income": [1.0, 2.0, 3.0, 4.0]})

    client.register_model(_model(x), "canary-model", input_example=x.head(2), reference=x)
    client.set_alias("canary-model", "champion", 1)
    notes = tmp_path / "notes.txt"
    notes.write_text(f"run notes: {CANARY}\n")
    with client.start_run(experiment="canary") as run:
        run.log_artifact(notes)
    pipelines.canary_output.run(client)
    source = tmp_path / "applicants.parquet"  # the input is the caller's file, outside the home
    x.to_parquet(source)
    run_batch("nightly", "models:/canary-model@champion", str(source), "scores", client=client)
    if encrypted:
        client.secrets.set("smtp-password", CANARY)
    client.topics.create(TopicSpec("canary-events", (TopicColumn("note", "string"),)))
    client.topics.publish("canary-events", [{"note": CANARY}])
    save_dataset(pa.table({"note": [CANARY]}), "canary-data", client=client)

    SqlEndpointStore(client.db, "tester", artifacts=client.artifacts).create(
        "canary", "models:/canary-model@champion"
    )
    master = keys.export() if keys else ""
    served = usina_serve(client, USINA_MASTER_KEY=master, USINA_REQUEST_LOG_FLUSH_MS="60000")
    http = FastClient(served.url)
    body = orjson.dumps({"instances": [{"age": 30, "income": 1.0}]})
    request_id = f"req-{uuid.uuid4().hex[:8]}"
    http.conn.request(
        "POST",
        "/v1/endpoints/canary:predict",
        body,
        {"Content-Type": "application/json", "x-request-id": request_id},
    )
    answer = http.conn.getresponse()
    assert answer.status == 200 and CANARY.encode() in answer.read()
    http.close()
    assert served.process is not None
    served.process.send_signal(signal.SIGTERM)  # the graceful stop writes the log
    # uvicorn re-raises the signal once it has stopped gracefully.
    assert served.process.wait(60) in (0, -signal.SIGTERM)

    # Every reader sees the plaintext.
    logged = query_log(client.artifacts, "select request_id, outputs from requests").rows
    assert logged == [(request_id, f'["{CANARY}"]')]
    window = connect(client.artifacts, "canary")
    assert window.execute("select count(*) from requests").fetchone() == (1,)
    tables = connect_tables(client.artifacts, tmp_path / "scratch")
    assert tables.execute("select count(*) from scores").fetchone() == (len(x),)
    assert client.load_model("models:/canary-model@champion").predict(x)[0] == CANARY
    assert client.get_reference("models:/canary-model@champion") is not None
    if encrypted:
        assert client.secrets.reveal("smtp-password") == CANARY
    (event,) = client.topics.poll("canary-events", "readers", "r1")
    assert event.json() == {"note": CANARY}
    assert load_dataset("datasets:/canary-data@latest", client=client).column("note")[
        0
    ].as_py() == (CANARY)

    found = _files_holding(home, CANARY.encode())
    if encrypted:
        assert found == [], f"the canary is in clear in {found}"
    else:
        kinds = {f.split("/")[1] for f in found if f.startswith("artifacts/")}
        assert {"request-log", "tables", "sha256"} <= kinds, found
        assert "topics.db" in found or "topics.db-wal" in found, found
    client.close()
