"""Hot swap: alias moves under continuous load fail no request and reach every worker; a
version that fails to load gets no traffic and the failure is reported."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest

from resources.fast_http import FastClient
from resources.waiting import wait_until
from serving.conftest import protocol_error
from usina.artifacts import blob_key

ROW = orjson.dumps({"instances": [{"age": 30, "income": 5.0, "debt": 1.0}]})
PATH = "/v1/endpoints/credit:predict"


@pytest.mark.slow
def test_20000_requests_while_the_alias_moves_every_half_second(
    three_versions, usina_serve
) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk@champion", sample_rate=0.01)
    served = usina_serve(client, workers=2, USINA_SERVE_POLL_INTERVAL="0.5")
    answers: list[tuple[int, str | None, bytes]] = []
    lock = threading.Lock()
    done = threading.Event()

    def load(count: int) -> None:
        http = FastClient(served.url)
        mine = [http.post(PATH, ROW) for _ in range(count)]
        http.close()
        with lock:
            answers.extend(mine)

    moves = 0

    def move_alias() -> None:
        nonlocal moves
        while not done.wait(0.5):
            moves += 1
            client.set_alias("credit-risk", "champion", moves % 3 + 1, reason="load test")

    mover = threading.Thread(target=move_alias)
    mover.start()
    loaders = [threading.Thread(target=load, args=(5_000,)) for _ in range(4)]
    for t in loaders:
        t.start()
    for t in loaders:
        t.join()
    done.set()
    mover.join()

    assert len(answers) == 20_000
    statuses = Counter(status for status, _, _ in answers)
    assert statuses == {200: 20_000}
    # Every answer is whole: the version header and the prediction agree.
    for _, version, body in answers:
        assert orjson.loads(body)["predictions"] == [int(version or 0) * 10]
    assert len({version for _, version, _ in answers}) == 3
    assert moves >= 4

    # After a move, both workers answer with the new version (each polls every 0.5 s).
    current = moves % 3 + 1
    target = current % 3 + 1
    client.set_alias("credit-risk", "champion", target, reason="visibility check")

    def answers_on_new_connections() -> Counter[tuple[int, str | None]]:
        seen: Counter[tuple[int, str | None]] = Counter()
        for _ in range(40):
            http = FastClient(served.url)  # a new connection each time, to reach both workers
            status, version, _ = http.post(PATH, ROW)
            http.close()
            seen[(status, version)] += 1
        return seen

    # New connections reach whichever worker accepts first, so one round of 40 may all land on
    # one worker while the other, busy loading, has not polled yet: three rounds in a row.
    streak = 0

    def every_worker_serves_it() -> bool:
        nonlocal streak
        streak = streak + 1 if answers_on_new_connections() == {(200, str(target)): 40} else 0
        return streak >= 3

    wait_until(every_worker_serves_it, 30, "every worker to serve the new version")
    assert answers_on_new_connections() == {(200, str(target)): 40}, "no worker goes back"


def _corrupt(client: Any, version: int) -> None:
    digest = client.get_version(f"models:/credit-risk/{version}").digest
    client.artifacts.write(blob_key(digest), b"not the model any more")


def test_a_version_that_fails_to_load_gets_no_traffic(three_versions, serve) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk@champion")
    served = serve(client)
    _corrupt(client, 3)
    client.set_alias("credit-risk", "champion", 3, reason="a broken candidate")

    def failure_reported() -> Any:
        info = httpx.get(f"{served.url}/v1/endpoints/credit").json()
        return info if info["failures"] else None

    info = wait_until(failure_reported, 30, "the load failure to be reported")
    assert info["failures"][0]["version"] == 3
    assert "IntegrityError" in info["failures"][0]["error"]
    assert info["serving"] == [{"version": 1, "traffic": 100.0}]
    http = FastClient(served.url)
    assert {http.post(PATH, ROW)[:2] for _ in range(200)} == {(200, "1")}

    # In a split, the broken version's share goes to the versions that loaded.
    generation = store.split("credit", {1: 50, 3: 50}).generation
    wait_until(
        lambda: httpx.get(f"{served.url}/v1/endpoints/credit").json()["generation"] == generation,
        30,
        "the split to be picked up",
    )
    assert {http.post(PATH, ROW)[:2] for _ in range(200)} == {(200, "1")}
    http.close()
    metrics = httpx.get(f"{served.url}/metrics").text
    assert 'usina_version_load_failures_total{endpoint="credit",version="3"} 1.0' in metrics


def test_an_endpoint_with_no_loadable_version_answers_503(three_versions, serve) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    _corrupt(client, 2)
    store.create("broken", "models:/credit-risk/2")
    served = serve(client)
    r = httpx.post(f"{served.url}/v1/endpoints/broken:predict", content=ROW)
    assert r.status_code == 503
    assert "no loaded version" in protocol_error(r)[0]
    assert httpx.get(f"{served.url}/v2/models/broken/ready").status_code == 503


def test_new_endpoints_and_deletions_are_picked_up(three_versions, serve) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    served = serve(client)
    assert httpx.post(f"{served.url}/v1/endpoints/credit:predict", content=ROW).status_code == 404
    store.create("credit", "models:/credit-risk/2")
    wait_until(
        lambda: (
            httpx.post(f"{served.url}/v1/endpoints/credit:predict", content=ROW).status_code == 200
        ),
        30,
        "the new endpoint",
    )
    store.delete("credit")
    wait_until(
        lambda: (
            httpx.post(f"{served.url}/v1/endpoints/credit:predict", content=ROW).status_code == 404
        ),
        30,
        "the deletion",
    )


def test_a_failed_version_is_retried_and_serves_once_it_loads(three_versions, serve) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk@champion")
    served = serve(client, retry_failed_after=0.3)
    key = blob_key(client.get_version("models:/credit-risk/3").digest)
    with client.artifacts.open(key) as f:
        original = f.read()
    _corrupt(client, 3)
    client.set_alias("credit-risk", "champion", 3, reason="its artifact is briefly unreadable")
    wait_until(
        lambda: httpx.get(f"{served.url}/v1/endpoints/credit").json()["failures"],
        30,
        "the load failure to be reported",
    )
    http = FastClient(served.url)
    assert http.post(PATH, ROW)[:2] == (200, "1")
    client.artifacts.write(key, original)  # the store recovers
    wait_until(
        lambda: http.post(PATH, ROW)[:2] == (200, "3"), 30, "version 3 to serve after a retry"
    )
    assert httpx.get(f"{served.url}/v1/endpoints/credit").json()["failures"] == []
    http.close()
