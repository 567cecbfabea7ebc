"""One batch job suite, two stores: the SQL store directly and the HTTP store through a server,
each on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

import server.conftest as server_fixtures
from usina.testing import check_batch_job_store

serve_app = server_fixtures.serve_app
live_server = server_fixtures.live_server
remote_factory = server_fixtures.remote_factory


@pytest.fixture(params=["direct", "http"])
def make_client(request: pytest.FixtureRequest, db_url: str, client_factory):  # type: ignore[no-untyped-def]
    if request.param == "direct":
        return lambda: client_factory(db_url)
    return request.getfixturevalue("remote_factory")


def test_batch_job_store_conformance(make_client) -> None:  # type: ignore[no-untyped-def]
    check_batch_job_store(make_client)


@pytest.fixture(params=["direct", "http"])
def stale_after_half_a_second(
    request: pytest.FixtureRequest, db_url: str, client_factory, tmp_path
):  # type: ignore[no-untyped-def]
    """Clients of one installation whose heartbeat timeout is half a second (the server's own,
    through HTTP)."""
    if request.param == "direct":
        return lambda: client_factory(db_url, heartbeat_timeout=0.5)
    from usina.client import Client
    from usina.server import ServerConfig, create_app

    serve_app = request.getfixturevalue("serve_app")
    config = ServerConfig(db_url=db_url, artifacts=str(tmp_path / "a"), heartbeat_timeout=0.5)
    url = serve_app(create_app(config))
    made: list[Client] = []

    def make() -> Client:
        made.append(Client(url, heartbeat_timeout=0.5))
        return made[-1]

    request.addfinalizer(lambda: [c.close() for c in made])
    return make


def test_a_job_that_stops_beating_is_failed_once_for_every_reader(
    stale_after_half_a_second,
) -> None:  # type: ignore[no-untyped-def]
    from resources.waiting import wait_until
    from usina.batch.entities import JobEnd, JobStart, JobStatus
    from usina.errors import Conflict

    store, other = stale_after_half_a_second().batch, stale_after_half_a_second().batch
    start = JobStart("e" * 32, "nightly", "models:/m@champion", "m", 1, "in.parquet", "scores", {})
    job = store.start(start)
    failed = wait_until(
        lambda: other.list(status="failed"), 30, "the job without heartbeats to be read as failed"
    )
    assert [j.id for j in failed] == [job.id]
    assert failed[0].error.startswith("the job's process stopped sending heartbeats at ")
    assert failed[0].ended_at == failed[0].heartbeat_at
    assert store.get(job.id) == failed[0]  # every reader sees the same record
    store.heartbeat(job.id)  # a late beat does not revive it
    assert store.get(job.id).status is JobStatus.FAILED
    with pytest.raises(Conflict):
        store.finish(job.id, JobEnd(JobStatus.SUCCEEDED))
