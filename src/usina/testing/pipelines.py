"""The contracts of a ``PipelineStore`` and a ``ScheduleStore``, as functions any backend's
tests call. Each error a pipeline or schedule route documents is checked here, so the SQL
stores and the HTTP stores (which reach them through a server) refuse the same input."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from usina.errors import Conflict, InvalidInput, NotFound
from usina.pipelines.entities import PipelineStatus, StepRun, StepStatus
from usina.pipelines.types import Artifact
from usina.testing.tracking import expect_error


def _id() -> str:
    return uuid.uuid4().hex


def check_pipeline_store(make_client: Callable[[], Any]) -> None:
    """Assert that ``make_client().pipelines`` (a fresh, empty installation) keeps the
    ``PipelineStore`` contract."""
    store = make_client().pipelines

    # Runs start running, under the id given; the id is taken once.
    run_id = _id()
    run = store.create_run(run_id, "conf-pipe", "p.py:conf", {"C": 0.5}, "manual")
    assert (run.id, run.status, run.params, run.steps) == (
        run_id,
        PipelineStatus.RUNNING,
        {"C": 0.5},
        (),
    )
    assert run.trigger == "manual" and run.end_time is None and run.resumed_from is None
    expect_error(
        Conflict,
        lambda: store.create_run(run_id, "conf-pipe", "p.py:conf", {}, "manual"),
        field="run_id",
    )
    again = store.create_run(run_id, "conf-pipe", "p.py:conf", {}, "kfp:x", exist_ok=True)
    assert again.trigger == "manual", "exist_ok answers the stored run, unchanged"
    expect_error(
        InvalidInput, lambda: store.create_run("not-an-id", "p", "p.py:p", {}, "m"), "run_id"
    )
    expect_error(
        InvalidInput, lambda: store.create_run(_id(), "bad name!", "p.py:p", {}, "m"), "pipeline"
    )
    expect_error(
        InvalidInput, lambda: store.create_run(_id(), "p", "p.py:p", {}, ""), field="trigger"
    )
    expect_error(
        NotFound,
        lambda: store.create_run(_id(), "p", "p.py:p", {}, "m", resumed_from=_id()),
        field="resumed_from",
    )

    # Steps: recorded, replaced, and linked to the artifacts executed steps read and wrote.
    raw = Artifact("dataset", "a" * 64, 10, rows=40)
    features = Artifact("dataset", "b" * 64, 12, rows=40)
    report = Artifact("metrics", "c" * 64, 5, value={"auc": 0.9})
    load_id, feat_id = _id(), _id()
    running = StepRun(load_id, run_id, "load", StepStatus.RUNNING, "k" * 64, start_time=1.0)
    store.record_steps([running])
    assert store.get_run(run_id).step("load").status == StepStatus.RUNNING
    load = StepRun.done(
        load_id, run_id, "load", "k" * 64, attempts=1, started=1.0, outputs={"output": raw}
    )
    feat = StepRun.done(
        feat_id,
        run_id,
        "features",
        "f" * 64,
        attempts=2,
        started=2.0,
        outputs={"output": features, "report": report},
        log_digest="d" * 64,
    )
    store.record_steps([load, feat], {feat_id: {"raw": raw}})
    got = store.get_run(run_id)
    assert [s.node for s in got.steps] == ["load", "features"], "steps in start order"
    assert got.step("load").status == StepStatus.DONE, "a step run is replaced by its id"
    assert got.step("features").attempts == 2 and got.step("features").log_digest == "d" * 64
    assert got.output("features", "report").value == {"auc": 0.9}, "values travel inline"
    assert got.output("features").rows == 40
    assert store.get_step(feat_id) == got.step("features")
    links = {(x.role, x.name, x.digest) for x in store.step_links(feat_id)}
    assert links == {
        ("input", "raw", raw.digest),
        ("output", "output", features.digest),
        ("output", "report", report.digest),
    }
    use = store.artifact_use(raw.digest)
    assert [s.id for s in use.producers] == [load_id] and [s.id for s in use.readers] == [feat_id]
    expect_error(InvalidInput, lambda: store.artifact_use("sha256:nope"), field="digest")
    assert store.artifact_use("e" * 64).producers == ()

    # Caching finds the latest successful execution of a key; a cached step points at it.
    assert set(store.find_cached(["k" * 64, "f" * 64, "0" * 64])) == {"k" * 64, "f" * 64}
    assert store.find_cached([]) == {}
    cached = StepRun.cached(run_id, "again", "k" * 64, load)
    store.record_steps([cached])
    assert store.get_run(run_id).step("again").cached_from == load_id
    assert store.find_cached(["k" * 64])["k" * 64].id == load_id, "cached steps are no source"
    assert store.step_links(cached.id) == [], "only executed steps have links"

    # Bad step records are refused whole.
    other = store.create_run(_id(), "conf-pipe", "p.py:conf", {}, "manual")
    mixed = StepRun.skipped(other.id, "x")
    expect_error(InvalidInput, lambda: store.record_steps([load, mixed]), field="pipeline_run_id")
    expect_error(
        NotFound,
        lambda: store.record_steps([StepRun.skipped(_id(), "x")]),
        field="pipeline_run_id",
    )
    bad_status = StepRun(_id(), run_id, "x", "sleeping", "")  # type: ignore[arg-type]
    expect_error(InvalidInput, lambda: store.record_steps([bad_status]), field="status")
    expect_error(
        InvalidInput, lambda: store.record_steps([StepRun.skipped(run_id, "bad node!")]), "node"
    )
    no_source = StepRun(_id(), run_id, "x", StepStatus.CACHED, "k" * 64)
    expect_error(InvalidInput, lambda: store.record_steps([no_source]), field="cached_from")
    expect_error(
        InvalidInput,
        lambda: store.record_steps([StepRun.skipped(run_id, "x")], {_id(): {"raw": raw}}),
        field="inputs",
    )
    assert "x" not in {s.node for s in store.get_run(run_id).steps}

    # Ending: succeeded or failed, once (repeating the same end is harmless).
    expect_error(InvalidInput, lambda: store.end_run(run_id, "running"), field="status")
    expect_error(InvalidInput, lambda: store.end_run(run_id, "sleeping"), field="status")
    expect_error(NotFound, lambda: store.end_run(_id(), PipelineStatus.FAILED), field="run_id")
    store.end_run(run_id, PipelineStatus.SUCCEEDED)
    store.end_run(run_id, PipelineStatus.SUCCEEDED)
    ended = store.get_run(run_id)
    assert ended.ok and ended.end_time is not None
    expect_error(Conflict, lambda: store.end_run(run_id, PipelineStatus.FAILED), field="run_id")

    # Reads of what is not there.
    expect_error(NotFound, lambda: store.get_run(_id()), field="run_id")
    expect_error(InvalidInput, lambda: store.get_run("not-an-id"), field="run_id")
    expect_error(NotFound, lambda: store.get_step(_id()), field="step_run_id")
    expect_error(InvalidInput, lambda: store.get_step("nope"), field="step_run_id")
    expect_error(NotFound, lambda: store.step_links(_id()), field="step_run_id")

    # Lists: newest first, filtered, paged.
    made = [
        store.create_run(_id(), "conf-list", "p.py:l", {}, f"schedule:nightly@{i}")
        for i in range(5)
    ]
    listed = store.list_runs("conf-list", limit=100)
    assert [r.id for r in listed] == [r.id for r in reversed(made)], "newest first"
    assert all(r.steps == () for r in listed), "lists leave steps out"
    pages = [store.list_runs("conf-list", limit=2, offset=o) for o in (0, 2, 4)]
    assert [r.id for p in pages for r in p] == [r.id for r in listed], "pages cover each once"
    assert len(store.list_runs(trigger_prefix="schedule:nightly")) == 5
    assert store.list_runs(trigger_prefix="schedule:nightly_") == [], "prefixes are literal"
    assert {r.pipeline for r in store.list_runs(limit=100)} == {"conf-pipe", "conf-list"}
    expect_error(InvalidInput, lambda: store.list_runs(limit=0), field="limit")


def check_schedule_store(make_client: Callable[[], Any]) -> None:
    """Assert that ``make_client().schedules`` (a fresh, empty installation) keeps the
    ``ScheduleStore`` and ``ScheduleLease`` contracts."""
    store = make_client().schedules
    t0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z

    hourly = store.create("hourly", "p.py:tiny", "0 * * * *", {"n": 3}, "once", now=t0)
    assert (hourly.name, hourly.cron, hourly.params, hourly.catchup) == (
        "hourly",
        "0 * * * *",
        {"n": 3},
        "once",
    )
    assert hourly.next_tick == 1_700_002_800.0, "the first tick is the next cron time after now"
    assert not hourly.paused and hourly.last_tick is None and hourly.created_at == t0
    store.create("daily", "p.py:tiny", "0 3 * * *", now=t0)
    assert [s.name for s in store.list()] == ["daily", "hourly"], "listed by name"
    assert store.get("hourly") == hourly

    expect_error(Conflict, lambda: store.create("hourly", "p.py:x", "* * * * *"), field="name")
    expect_error(InvalidInput, lambda: store.create("bad name!", "p.py:x", "* * * * *"), "name")
    expect_error(InvalidInput, lambda: store.create("x", "p.py:x", "every day"), field="cron")
    expect_error(
        InvalidInput, lambda: store.create("x", "p.py:x", "* * * * *", catchup="all"), "catchup"
    )
    expect_error(InvalidInput, lambda: store.create("x", " ", "* * * * *"), field="pipeline")
    expect_error(NotFound, lambda: store.get("absent"), field="name")

    # Pausing keeps the schedule; resuming starts from the first tick after now.
    assert store.set_paused("hourly", True).paused
    resumed = store.set_paused("hourly", False, now=t0 + 7200)
    assert not resumed.paused and resumed.next_tick == 1_700_010_000.0
    expect_error(NotFound, lambda: store.set_paused("absent", True), field="name")

    # The lease: one holder at a time until it expires or is given back.
    assert store.acquire_lease("a", 60, now=t0)
    assert not store.acquire_lease("b", 60, now=t0 + 1), "an unexpired lease is not taken"
    assert store.acquire_lease("a", 60, now=t0 + 30), "the holder renews"
    assert store.acquire_lease("b", 60, now=t0 + 91), "an expired lease is taken over"
    assert not store.acquire_lease("a", 60, now=t0 + 92)
    store.release_lease("a")  # not the holder: nothing happens
    assert not store.acquire_lease("a", 60, now=t0 + 93)
    store.release_lease("b")
    assert store.acquire_lease("a", 60, now=t0 + 94), "a released lease is free at once"
    expect_error(InvalidInput, lambda: store.acquire_lease("a", 0), field="lease_s")
    expect_error(InvalidInput, lambda: store.acquire_lease("bad holder!", 60), field="holder")

    # Claims: a tick is claimed once, by compare-and-set on the schedule's next tick.
    tick = resumed.next_tick
    claim = ("hourly", tick, tick, tick + 3600, 0, "a")
    assert store.claim_tick(*claim)
    assert not store.claim_tick(*claim), "a tick is claimed once"
    after = store.get("hourly")
    assert (after.next_tick, after.last_tick) == (tick + 3600, tick)
    run_id = uuid.uuid4().hex
    store.link_fire("hourly", tick, run_id)
    assert [(f.schedule, f.tick, f.missed, f.pipeline_run_id) for f in store.fires("hourly")] == [
        ("hourly", tick, 0, run_id)
    ]
    assert store.fires("daily") == [] and len(store.fires()) == 1
    expect_error(NotFound, lambda: store.claim_tick("absent", 1, 1, 2, 0, "a"), field="name")
    expect_error(
        InvalidInput,
        lambda: store.claim_tick("hourly", tick + 3600, tick + 3600, tick, 0, "a"),
        field="upcoming",
    )
    expect_error(NotFound, lambda: store.link_fire("hourly", tick + 1, run_id), field="tick")
    expect_error(
        InvalidInput, lambda: store.link_fire("hourly", tick, "nope"), field="pipeline_run_id"
    )

    # Deleting removes the schedule and keeps what it fired.
    store.delete("hourly")
    expect_error(NotFound, lambda: store.get("hourly"), field="name")
    expect_error(NotFound, lambda: store.delete("hourly"), field="name")
    assert [s.name for s in store.list()] == ["daily"]
    assert len(store.fires("hourly")) == 1
