"""HTTP ingest: ``POST /api/v1/topics/{name}:publish`` takes a JSON array or JSON lines, checks
every record against the topic's schema before anything is stored, and answers once the log
holds them (another connection to the log reads them at once), on every backend."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

import server.conftest as server_fixtures
from usina.topics import open_topic_log

serve_app = server_fixtures.serve_app

TOPIC = {
    "name": "payments",
    "columns": [
        {"name": "user_id", "dtype": "int64"},
        {"name": "amount", "dtype": "double"},
        {"name": "country", "dtype": "string", "nullable": True},
    ],
    "retention": {"max_age": 86400},
}


@pytest.fixture
def api(tmp_path: Path, topics_url: str, serve_app: Any) -> httpx.Client:  # type: ignore[misc]
    from usina.server import ServerConfig, create_app

    config = ServerConfig(
        db_url=f"sqlite:///{tmp_path / 'usina.db'}",
        artifacts=str(tmp_path / "a"),
        topics_url=topics_url,
        serving=None,
    )
    with httpx.Client(base_url=serve_app(create_app(config)) + "/api/v1") as http:
        yield http


def test_publish_is_checked_whole_and_durable_before_the_answer(
    api: httpx.Client, topics_url: str
) -> None:
    name = f"payments-{uuid.uuid4().hex[:8]}"
    created = api.post("/topics", json={**TOPIC, "name": name})
    assert created.status_code == 201, created.text
    log = open_topic_log(topics_url)
    try:
        array = [{"user_id": 1, "amount": 2.5, "country": "BR"}, {"user_id": 2, "amount": 1}]
        first = api.post(f"/topics/{name}:publish", json=array)
        assert first.status_code == 200, first.text
        lines = b'{"user_id": 3, "amount": 0.5}\n\n{"user_id": 4, "amount": 9, "country": null}\n'
        second = api.post(
            f"/topics/{name}:publish",
            content=lines,
            headers={"content-type": "application/x-ndjson"},
        )
        assert second.status_code == 200, second.text
        offsets = first.json()["offsets"] + second.json()["offsets"]
        assert offsets == sorted(offsets) and len(offsets) == 4

        # A bad record anywhere refuses the whole request, naming the record and its field.
        bad = [{"user_id": 5, "amount": 1.0}, {"user_id": 6, "amount": 2.0}, {"user_id": 7}]
        refused = api.post(f"/topics/{name}:publish", json=bad)
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["field"] == "records[2].amount"
        assert "record 2" in error["message"]
        typo = b'{"user_id": 8, "amount": 1}\n{"user_id": 9, "amount": 1,}\n'
        broken = api.post(f"/topics/{name}:publish", content=typo)
        assert (broken.status_code, broken.json()["error"]["field"]) == (400, "records[1]")
        unknown = api.post(f"/topics/{name}:publish", json=[{"user_id": 1, "amount": 1, "x": 1}])
        assert unknown.json()["error"]["field"] == "records[0].x"
        assert api.post(f"/topics/{name}:publish", content=b"").status_code == 400
        assert api.post("/topics/absent:publish", json=array).status_code == 404

        # Another connection reads exactly the accepted records, in order.
        got: list[Any] = []
        while len(got) < 4:
            polled = log.poll(name, "audit", "reader", 10, wait=2)
            assert polled, f"the log holds {len(got)} of the 4 accepted records"
            got += polled
        assert [m.offset for m in got] == offsets
        assert [m.json()["user_id"] for m in got] == [1, 2, 3, 4]
        assert log.poll(name, "audit", "reader", 10, wait=0.3) == []
    finally:
        api.delete(f"/topics/{name}")
        log.close()
