"""Experiments and runs, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.waiting import wait_until
from usina.artifacts import read_bytes
from usina.errors import Conflict, InvalidInput, NotFound
from usina.tracking import RunStatus


def test_a_run_records_params_metrics_tags_and_ends_finished(client) -> None:
    with client.start_run(
        "credit-risk", name="lr", params={"C": 0.5}, tags={"team": "risk"}
    ) as run:
        run.log_params({"penalty": "l2", "max_iter": 100})
        run.log_metric("loss", 0.9, step=0)
        run.log_metric("loss", 0.5, step=1)
        run.log_metrics({"auc": 0.81, "accuracy": 0.77})
        run.set_tag("team", "credit")
    stored = client.tracking.get_run(run.id)
    assert stored.status is RunStatus.FINISHED
    assert stored.end_time is not None and stored.end_time >= stored.start_time
    assert stored.params == {"C": "0.5", "penalty": "l2", "max_iter": "100"}
    assert stored.metrics == {"accuracy": 0.77, "auc": 0.81, "loss": 0.5}
    assert stored.tags == {"team": "credit"}
    assert stored.experiment == "credit-risk" and stored.name == "lr"
    assert stored.created_by == "local"
    history = client.tracking.metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.5)]


def test_an_exception_inside_the_run_marks_it_failed(client) -> None:
    with pytest.raises(RuntimeError), client.start_run("exp") as run:
        run.log_metric("x", 1.0)
        raise RuntimeError("training blew up")
    stored = client.tracking.get_run(run.id)
    assert stored.status is RunStatus.FAILED
    assert stored.metrics == {"x": 1.0}  # buffered values are not lost


def test_thousands_of_metrics_are_all_written(client) -> None:
    with client.start_run("exp") as run:
        for i in range(2500):
            run.log_metric("loss", 1.0 / (i + 1), step=i)
    history = client.tracking.metric_history(run.id, "loss")
    assert len(history) == 2500
    assert [m.step for m in history] == list(range(2500))


def test_params_cannot_change_once_logged(client) -> None:
    with client.start_run("exp", params={"C": 1}) as run:
        run.log_param("C", 1)  # the same value again is fine
        with pytest.raises(Conflict, match=r"param 'C' .* is already '1'"):
            run.log_param("C", 2)


def test_a_finished_run_takes_no_more_writes(client) -> None:
    with client.start_run("exp") as run:
        pass
    with pytest.raises(Conflict, match="is finished; start a new run"):
        client.tracking.log_batch(run.id, params={"late": 1})


def test_bad_values_name_the_field(client) -> None:
    with client.start_run("exp") as run:
        with pytest.raises(InvalidInput, match="metric 'auc' has value 'high', not a number"):
            run.log_metric("auc", "high")
        with pytest.raises(InvalidInput, match="metric name"):
            run.log_metric("bad\nkey", 1.0)
        with pytest.raises(InvalidInput, match="step"):
            run.log_metric("auc", 1.0, step=1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="experiment"):
        client.start_run("../etc")


def test_artifacts_are_stored_by_digest_with_the_run(client, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text("<h1>ok</h1>")
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "roc.png").write_bytes(b"\x89PNG fake")
    with client.start_run("exp") as run:
        run.log_artifact(report)
        run.log_artifact(plots)
        run.log_artifact(report, "copies/report-again.html")
    stored = client.tracking.get_run(run.id)
    paths = {a.path: a for a in stored.artifacts}
    assert set(paths) == {"report.html", "plots/roc.png", "copies/report-again.html"}
    assert read_bytes(client.artifacts, paths["report.html"].digest) == b"<h1>ok</h1>"
    assert paths["report.html"].digest == paths["copies/report-again.html"].digest
    with client.start_run("exp") as run2, pytest.raises(InvalidInput, match="no file or folder"):
        run2.log_artifact(tmp_path / "missing.txt")


def test_runs_list_filters_and_experiments_count(client) -> None:
    with client.start_run("a"):
        pass
    with pytest.raises(ValueError), client.start_run("a"):
        raise ValueError
    with client.start_run("b"):
        pass
    assert {e.name: e.run_count for e in client.tracking.list_experiments()} == {"a": 2, "b": 1}
    assert len(client.tracking.list_runs(experiment="a")) == 2
    assert [r.status for r in client.tracking.list_runs(experiment="a", status="failed")] == [
        RunStatus.FAILED
    ]
    with pytest.raises(InvalidInput, match="status 'done' is not one of"):
        client.tracking.list_runs(status="done")
    with pytest.raises(NotFound, match="no experiment named 'c'"):
        client.tracking.list_runs(experiment="c")


def test_runs_are_found_by_unique_prefix(client) -> None:
    with client.start_run("exp") as run:
        pass
    assert client.tracking.get_run(run.id[:8]).id == run.id
    with pytest.raises(NotFound, match="no run with id"):
        client.tracking.get_run("0" * 32)
    with pytest.raises(InvalidInput, match="run ids are 32 hex"):
        client.tracking.get_run("not-a-run")


def test_a_run_whose_process_died_is_failed_once_its_heartbeat_is_stale(
    db_url, client_factory
) -> None:
    client = client_factory(db_url, heartbeat_timeout=0.5)
    # Migrate first: a run's times are taken before the first write migrates a new database,
    # which can take longer than the timeout.
    client.db.migrate()
    alive = client.start_run("exp")
    # A run created without an ActiveRun is a run whose process never beats again. Each orphan
    # is younger than ``alive``: once it is failed, ``alive`` would be too without its beats.
    for _ in range(3):
        orphan = client.tracking.create_run("exp")

        def orphan_failed(run_id: str = orphan.id) -> bool:
            return client.tracking.get_run(run_id).status is RunStatus.FAILED

        wait_until(orphan_failed, 30, "the orphan run's heartbeat to go stale")
        assert client.tracking.get_run(alive.id).status is RunStatus.RUNNING
    alive.end()
    assert client.tracking.get_run(alive.id).status is RunStatus.FINISHED


def test_every_write_records_its_actor(db_url, client_factory) -> None:
    client = client_factory(db_url, actor="ci-bot")
    with client.start_run("exp") as run:
        pass
    assert client.tracking.get_run(run.id).created_by == "ci-bot"
    assert client.tracking.list_experiments()[0].created_by == "ci-bot"


def test_log_batch_checks_every_value_before_logging_any(client) -> None:
    with client.start_run("exp") as run:
        run.log_batch(
            metrics=[("loss", 0.5, 0), ("loss", 0.25, 1)], params={"C": 1}, tags={"t": "x"}
        )
        with pytest.raises(InvalidInput, match="not a number"):
            run.log_batch(metrics=[("loss", 0.1, 2), ("loss", "bad", 3)])
    stored = client.tracking.get_run(run.id)
    assert [(m.step, m.value) for m in client.tracking.metric_history(run.id, "loss")] == [
        (0, 0.5),
        (1, 0.25),
    ]
    assert stored.params == {"C": "1"} and stored.tags == {"t": "x"}


def test_logging_does_not_wait_for_a_locked_database(sqlite_url, client_factory) -> None:
    import sqlite3

    client = client_factory(sqlite_url)
    run = client.start_run("exp")
    # Another process holds the write lock, as a long transaction elsewhere would.
    blocker = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        for i in range(3000):  # three batches' worth: the caller must not write them itself
            run.log_metric("loss", 1.0 / (i + 1), step=i)
        pending = len(run._buffer)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert pending > 0, "the values waited in memory while the database was locked"
    run.end()
    assert len(client.tracking.metric_history(run.id, "loss")) == 3000
