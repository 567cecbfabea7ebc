"""The local runner: parallelism, caching, failure and resume, retries, timeouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources import pipelines as p
from resources.pipelines import calls
from usina.artifacts import read_bytes
from usina.pipelines import LocalRunner, PipelineStatus
from usina.tracking import RunStatus


def statuses(run) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {s.node: s.status.value for s in run.steps}


def test_independent_steps_run_at_the_same_time(client, workdir) -> None:
    run = LocalRunner(client, max_workers=2).run(p.parallel, {"workdir": workdir})
    assert run.ok
    a, b = run.step("nap"), run.step("nap-2")
    # Each started before the other ended: they overlapped.
    assert a.start_time < b.end_time and b.start_time < a.end_time


def test_one_worker_runs_steps_one_after_the_other(sqlite_url, client_factory, workdir) -> None:
    client = client_factory(sqlite_url)
    run = LocalRunner(client, max_workers=1).run(p.parallel, {"workdir": workdir, "seconds": 0.1})
    a, b = sorted(run.steps, key=lambda s: s.start_time)
    assert a.end_time <= b.start_time


def test_a_second_identical_run_executes_no_step(client, workdir) -> None:
    first = p.chain.run(client, workdir=workdir)
    assert first.ok and set(statuses(first).values()) == {"done"}
    second = p.chain.run(client, workdir=workdir)
    assert second.ok
    assert set(statuses(second).values()) == {"cached"}
    assert calls(workdir, "load") == 1
    # The reused outputs are the same artifacts, and the cached step points at its source.
    assert second.output("report").value == first.output("report").value
    assert second.step("load").cached_from == first.step("load").id
    # Only the first run's steps became tracking runs.
    step_runs = [
        r for r in client.tracking.list_runs("chain") if r.tags.get("usina.kind") == "step"
    ]
    assert len(step_runs) == 5


def test_changing_one_parameter_reruns_exactly_the_steps_downstream_of_it(client, workdir) -> None:
    p.chain.run(client, workdir=workdir, factor=2.0)
    rerun = p.chain.run(client, workdir=workdir, factor=3.0)
    assert statuses(rerun) == {
        "load": "cached",
        "count-rows": "cached",
        "scale": "done",
        "total": "done",
        "report": "done",
    }
    assert rerun.output("report").value == {"total": 3.0 * sum(range(40)), "rows": 40.0}


def test_cache_can_be_turned_off_for_a_run(sqlite_url, client_factory, workdir) -> None:
    client = client_factory(sqlite_url)
    p.chain.run(client, workdir=workdir)
    again = p.chain.run(client, workdir=workdir, cache=False)
    assert set(statuses(again).values()) == {"done"}
    assert calls(workdir, "load") == 2


def test_a_failed_step_keeps_its_traceback_and_skips_what_depends_on_it(client, workdir) -> None:
    run = p.resumable.run(client, workdir=workdir)
    assert run.status is PipelineStatus.FAILED
    assert statuses(run) == {
        "load": "done",
        "fragile": "failed",
        "total": "skipped",
        "count-rows": "done",
    }
    failed = run.step("fragile")
    assert "RuntimeError: upstream file not ready" in failed.error
    assert "Traceback" in failed.error
    assert client.tracking.get_run(failed.id).status is RunStatus.FAILED


def test_resume_runs_only_what_failed_or_did_not_run(client, workdir) -> None:
    failed = p.resumable.run(client, workdir=workdir)
    assert not failed.ok
    Path(workdir, "ok").touch()
    resumed = p.resumable.run(client, resume=failed.id)
    assert resumed.ok and resumed.resumed_from == failed.id
    assert resumed.trigger == f"resume:{failed.id}"
    assert statuses(resumed) == {
        "load": "cached",
        "count-rows": "cached",
        "fragile": "done",
        "total": "done",
    }
    assert resumed.step("load").cached_from == failed.step("load").id
    assert calls(workdir, "load") == 1 and calls(workdir, "fragile") == 2


def test_a_failing_step_is_retried(sqlite_url, client_factory, workdir) -> None:
    client = client_factory(sqlite_url)
    run = p.retrying.run(client, workdir=workdir)
    assert run.ok
    step = run.step("flaky")
    assert step.attempts == 2
    assert step.outputs["output"].value == 2
    assert calls(workdir, "flaky") == 2


def test_a_step_over_its_timeout_is_killed_and_fails(sqlite_url, client_factory, workdir) -> None:
    client = client_factory(sqlite_url)
    run = p.timing_out.run(client, workdir=workdir)
    assert run.status is PipelineStatus.FAILED
    assert statuses(run) == {"slow": "failed", "after-slow": "skipped"}
    assert "timed out after 0.5s" in run.step("slow").error
    step = run.step("slow")
    assert step.end_time - step.start_time < 30  # killed, not left to finish its sleep


def test_step_output_is_captured_in_its_log(sqlite_url, client_factory, workdir, capfd) -> None:
    client = client_factory(sqlite_url)
    run = p.chain.run(client, workdir=workdir, n=7)
    log = run.step("load").log_digest
    assert log is not None
    assert b"loading 7 rows" in read_bytes(client.artifacts, log)
    assert "loading 7 rows" not in capfd.readouterr().out


def test_each_executed_step_is_a_tracking_run_under_the_pipeline_run(
    sqlite_url, client_factory, workdir
) -> None:
    client = client_factory(sqlite_url)
    run = p.chain.run(client, workdir=workdir)
    pipeline_run = client.tracking.get_run(run.id)
    assert (
        pipeline_run.status is RunStatus.FINISHED and pipeline_run.tags["usina.kind"] == "pipeline"
    )
    report = client.tracking.get_run(run.step("report").id)
    assert report.tags["usina.pipeline_run"] == run.id
    assert report.metrics == {"total": 2.0 * sum(range(40)), "rows": 40.0}
    scale = client.tracking.get_run(run.step("scale").id)
    assert scale.params == {"factor": "2.0"}
    assert [i.name for i in scale.inputs] == ["data"]


def test_parameters_are_checked_before_anything_runs(sqlite_url, client_factory, workdir) -> None:
    from usina.errors import InvalidInput

    client = client_factory(sqlite_url)
    with pytest.raises(InvalidInput, match="no parameter 'facter'"):
        p.chain.run(client, workdir=workdir, facter=2.0)
    with pytest.raises(InvalidInput, match="parameter 'workdir' has no default"):
        p.chain.run(client)
    with pytest.raises(InvalidInput, match="parameter 'n' must be int"):
        p.chain.run(client, workdir=workdir, n="many")


def test_a_worker_that_dies_fails_its_step_and_others_go_on(
    sqlite_url, client_factory, workdir
) -> None:
    client = client_factory(sqlite_url)
    run = p.crashing.run(client, workdir=workdir)
    assert statuses(run) == {"crash": "failed", "one": "done"}
    assert "exited with code 3 before reporting" in run.step("crash").error


def test_a_memory_artifact_store_works_across_worker_processes(
    sqlite_url, client_factory, workdir
) -> None:
    client = client_factory(sqlite_url, "memory://")
    run = p.chain.run(client, workdir=workdir, max_workers=2)
    assert run.ok
    assert run.output("report").value == {"total": 2.0 * sum(range(40)), "rows": 40.0}


def test_steps_using_openmp_finish_when_the_caller_already_used_openmp(client) -> None:
    """As from a notebook that fitted a model before running a pipeline: GNU OpenMP's thread
    pool does not survive fork, and a forked worker's parallel region would wait forever."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.random.default_rng(9).normal(size=(2000, 5))
    HistGradientBoostingClassifier(max_iter=5).fit(x, (x[:, 1] > 0).astype(int))
    run = LocalRunner(client, max_workers=2).run(p.openmp_fits, {"seed": 3}, cache=False)
    assert run.ok, [s.error for s in run.steps]
    assert sorted(s.status.value for s in run.steps) == ["done", "done"]
