"""The request log: every sampled request after a graceful stop, sampling per endpoint, the
documented SIGKILL bound, and SQL over it from the command line."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from resources.fast_http import FastClient
from resources.waiting import wait_until
from serving.conftest import run_usina, usina_json
from usina.serving import query_log

PATH = "/v1/endpoints/credit:predict"


def _send(http: FastClient, request_id: str) -> int:
    http.conn.request(
        "POST",
        PATH,
        orjson.dumps({"instances": [{"age": 30, "income": 5.0, "debt": 1.0}]}),
        {"Content-Type": "application/json", "x-request-id": request_id},
    )
    response = http.conn.getresponse()
    response.read()
    return response.status


def _logged_ids(client) -> set[str]:  # type: ignore[no-untyped-def]
    rows = query_log(client.artifacts, "select request_id from requests where not shadow").rows
    return {r[0] for r in rows}


@pytest.mark.slow
def test_every_sampled_request_is_logged_after_a_graceful_stop(three_versions, usina_serve) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk@champion")
    served = usina_serve(client, workers=2, USINA_REQUEST_LOG_FLUSH_MS="60000")
    ids = [f"graceful-{i}" for i in range(150)]
    for request_id in ids:
        http = FastClient(served.url)  # new connections spread the requests over both workers
        assert _send(http, request_id) == 200
        http.close()
    assert served.process is not None
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(60) == 0
    # The flush interval is a minute, so only the shutdown flush can have written these.
    assert _logged_ids(client) == set(ids)
    rows = query_log(
        client.artifacts,
        "select distinct endpoint, model, version, protocol, status, inputs, outputs from requests",
    ).rows
    assert rows == [
        (
            "credit",
            "credit-risk",
            1,
            "vertex",
            200,
            '[{"age":30.0,"income":5.0,"debt":1.0}]',
            "[10]",
        )
    ]


def test_sampling_is_per_endpoint(three_versions, serve) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk/1", sample_rate=0.0)
    store.create("half", "models:/credit-risk/2", sample_rate=0.5)
    served = serve(client)
    http = FastClient(served.url)
    body = orjson.dumps({"instances": [[30, 5.0, 1.0]]})
    for _ in range(400):
        assert http.post("/v1/endpoints/credit:predict", body)[0] == 200
        assert http.post("/v1/endpoints/half:predict", body)[0] == 200
    http.close()
    served.stop()
    counts = dict(
        query_log(client.artifacts, "select endpoint, count(*) from requests group by 1").rows
    )
    assert "credit" not in counts
    assert 120 <= counts["half"] <= 280  # 400 draws at p=0.5: 8 standard deviations either way


@pytest.mark.slow
def test_sigkill_loses_at_most_the_documented_tail(three_versions, usina_serve) -> None:  # type: ignore[no-untyped-def]
    """Documented bound: rows answered in the last flush interval, plus a write under way."""
    client, store = three_versions
    store.create("credit", "models:/credit-risk@champion")
    flush_s = 0.2
    served = usina_serve(client, USINA_REQUEST_LOG_FLUSH_MS=str(int(flush_s * 1000)))
    http = FastClient(served.url)
    answered: list[tuple[str, float]] = []
    start = time.time()
    i = 0
    while time.time() - start < 3.0:
        request_id = f"kill-{i}"
        assert _send(http, request_id) == 200
        answered.append((request_id, time.time()))
        i += 1
    assert served.process is not None
    served.process.send_signal(signal.SIGKILL)
    killed_at = time.time()
    served.process.wait(30)
    http.close()
    logged = _logged_ids(client)
    # A write under way at the kill takes well under a second here; allow one on a busy machine.
    tail_start = killed_at - flush_s - 1.0
    lost_before_tail = [rid for rid, at in answered if at < tail_start and rid not in logged]
    assert lost_before_tail == []
    assert len(logged) > len(answered) // 2
    assert logged <= {rid for rid, _ in answered}


def test_usina_logs_query_runs_sql(three_versions, serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk@champion")
    served = serve(client)
    http = FastClient(served.url)
    for i in range(5):
        assert _send(http, f"q{i}") == 200
    http.close()
    served.stop()
    out = usina_json(
        client,
        "logs",
        "query",
        "select count(*) as n, max(version) as v from requests",
        cwd=tmp_path,
    )
    assert out == [{"n": 5, "v": 1}]
    bad = run_usina(client, "logs", "query", "select nope from requests", cwd=tmp_path)
    assert bad.returncode == 2
    assert b"nope" in bad.stderr


def test_rows_land_in_the_partition_of_their_utc_day_in_chunks(tmp_path: Path) -> None:
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import CHUNK_ROWS, RequestLog

    store = open_artifact_store(str(tmp_path / "artifacts"))
    log = RequestLog(store)
    midnight = 1_764_201_600.0  # 2025-11-27T00:00:00Z
    times = [midnight - 0.05] * (CHUNK_ROWS * 3 + 5) + [midnight + 0.05] * 7
    for row in _rows(len(times), times=times):
        log.append(row)
    assert log.flush() == len(times)
    days = {}
    for key in store.list("request-log/endpoint=credit/"):
        day = key.split("/")[2]
        days[day] = days.get(day, 0) + 1
    assert sorted(days) == ["date=2025-11-26", "date=2025-11-27"]
    result = query_log(
        store,
        "select cast(time as date)::varchar, count(*), min(inputs) from requests "
        "group by 1 order by 1",
    )
    assert [row[:2] for row in result.rows] == [
        ("2025-11-26", CHUNK_ROWS * 3 + 5),
        ("2025-11-27", 7),
    ]
    assert orjson.loads(result.rows[0][2]) == [{"age": 30}]


def _rows(n: int, start: int = 0, times: list[float] | None = None) -> list[Any]:
    """``n`` logged requests ``r{start}``, ``r{start + 1}``, ...; answered now unless
    ``times`` says when."""
    from usina.serving.requestlog import LogRow

    return [
        LogRow(
            f"r{start + i}",
            times[i] if times is not None else time.time(),
            "credit",
            "credit-risk",
            1,
            False,
            "vertex",
            200,
            0.4,
            (("age",), b"[[30]]"),
            b"[1]",
            None,
        )
        for i in range(n)
    ]


def _ids_in(store: Any) -> set[str]:
    result = query_log(store, "select request_id from requests")
    return {row[0] for row in result.rows}


def test_the_writer_process_writes_every_row_and_exits_on_close(tmp_path: Path) -> None:
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    store = open_artifact_store(str(tmp_path / "artifacts"))
    log = RequestLog(store, flush_interval=0.05, out_of_process=True)
    log.start()
    process = log._process
    assert process is not None, "a folder store gets a writer process"
    for row in _rows(1500):
        log.append(row)
    # A batch crosses the pipe and is written while rows keep coming.
    wait_until(lambda: _ids_in(store), 30, "the writer process to write a first batch")
    for row in _rows(700, start=1500):
        log.append(row)
    log.close()
    assert process.returncode == 0
    assert _ids_in(store) == {f"r{i}" for i in range(2200)}


def test_rows_are_written_here_when_the_writer_process_is_gone(tmp_path: Path) -> None:
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    store = open_artifact_store(str(tmp_path / "artifacts"))
    log = RequestLog(store, flush_interval=3600, out_of_process=True)
    log.start()
    assert log._process is not None
    log._process.kill()
    log._process.wait()
    for row in _rows(50):
        log.append(row)
    assert log.flush() == 50
    assert log._process is None
    log.close()
    assert _ids_in(store) == {f"r{i}" for i in range(50)}


def test_a_store_another_process_cannot_open_is_written_in_process() -> None:
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    store = open_artifact_store("memory://request-log-test")
    log = RequestLog(store, out_of_process=True)
    log.start()
    assert log._process is None
    for row in _rows(10):
        log.append(row)
    log.close()
    assert _ids_in(store) == {f"r{i}" for i in range(10)}
