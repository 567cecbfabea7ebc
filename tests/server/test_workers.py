"""``usina server --workers 4``: migrations run once, and 16 concurrent clients registering
versions and logging metrics see no errors and gapless version numbers."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from usina.client import Client

CLIENTS = 16
VERSIONS_EACH = 3
STEPS = 40


@pytest.mark.slow
@pytest.mark.empty_database
def test_four_workers_serve_sixteen_clients(db_url: str, start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    env = {"USINA_DB_URL": db_url, "USINA_ARTIFACTS": str(tmp_path / "artifacts")}
    # Without the scheduler companion, which would migrate before the workers start: this test
    # is about four workers racing to migrate a fresh database.
    server = start_server("--workers", "4", "--no-scheduler", env=env)
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    failures: list[BaseException] = []
    run_ids: list[str] = []
    start = threading.Barrier(CLIENTS)

    def work(i: int) -> None:
        client = Client(server.url, actor=f"worker-{i}")
        try:
            start.wait(120)
            with client.start_run("load", f"client-{i}", params={"i": i}) as run:
                run_ids.append(run.id)
                for step in range(STEPS):
                    run.log_metrics({"loss": 1 / (step + 1), "i": i}, step=step)
                    if step % 10 == 0:
                        run.flush()
                for _ in range(VERSIONS_EACH):
                    client.register_model(model, "shared", run=run)
        except BaseException as exc:  # noqa: BLE001 - collected and reported below
            failures.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not failures, failures[:3]

    check = Client(server.url)
    try:
        numbers = sorted(v.version for v in check.registry.list_versions("shared"))
        assert numbers == list(range(1, CLIENTS * VERSIONS_EACH + 1)), "gapless, no duplicates"
        assert len(run_ids) == CLIENTS
        for run_id in run_ids:
            run = check.tracking.get_run(run_id)
            assert run.status.value == "finished"
            assert len(check.tracking.metric_history(run_id, "loss")) == STEPS
    finally:
        check.close()

    # /metrics sums every worker's counters, whichever worker answers the scrape.
    metrics = httpx.get(f"{server.url}/metrics").text
    created = 'usina_http_requests_total{method="POST",route="/api/v1/models/{name}/versions",status="201"}'
    line = next(x for x in metrics.splitlines() if x.startswith(created))
    assert float(line.split()[-1]) == CLIENTS * VERSIONS_EACH

    log = server.output()
    assert log.count("Application startup complete") == 4, log
    assert log.count("migrating the metadata database") == 1, log
