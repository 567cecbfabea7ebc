"""The request log's writer process yields the CPU to serving: it runs at a lower priority."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from resources.waiting import wait_until
from serving.conftest import child_pids
from usina.serving.logpipe import WRITER_MALLOC, writer_environment


def niceness(pid: int) -> int:
    """The niceness of ``pid``, from /proc (field 19 of stat, after the command's parentheses)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[16])


@pytest.mark.parametrize("setting", [None, "0", "11"])
def test_the_writer_runs_at_the_configured_niceness(three_versions, usina_serve, setting) -> None:  # type: ignore[no-untyped-def]
    client, store = three_versions
    store.create("credit", "models:/credit-risk@champion")
    env = {} if setting is None else {"USINA_REQUEST_LOG_WRITER_NICE": setting}
    served = usina_serve(client, **env)
    assert served.process is not None
    server = served.process.pid
    [writer] = child_pids(server)
    expected = niceness(server) + (5 if setting is None else int(setting))
    # The writer lowers its priority as it starts.
    wait_until(lambda: niceness(writer) == min(expected, 19), 10, "the writer's niceness is set")
    assert niceness(server) == os.nice(0), "serving keeps the priority it was started with"


@pytest.mark.parametrize("setting", [None, "jemalloc"])
def test_the_writer_uses_the_c_library_allocator_unless_told(
    tmp_path, monkeypatch, setting
) -> None:  # type: ignore[no-untyped-def]
    """Arrow's mimalloc hands freed memory back at once and faults it in again as zeroed huge
    pages, a third of the writer's CPU; the writer runs Arrow on the C library's allocator,
    unless ARROW_DEFAULT_MEMORY_POOL says otherwise."""
    from usina.artifacts import open_artifact_store
    from usina.serving.requestlog import RequestLog

    if setting is None:
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    else:
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", setting)
    log = RequestLog(open_artifact_store(str(tmp_path / "artifacts")), out_of_process=True)
    log.start()
    try:
        assert log._process is not None
        pid = log._process.pid
        # The process is handed back once exec has replaced its memory, a moment before the
        # kernel records where its environment lies; /proc reads nothing until then.
        environ = wait_until(
            lambda: Path(f"/proc/{pid}/environ").read_bytes(),
            10,
            "the writer process's environment to appear in /proc",
        ).split(b"\0")
        expected = "system" if setting is None else setting
        assert f"ARROW_DEFAULT_MEMORY_POOL={expected}".encode() in environ
    finally:
        log.close()


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (None, WRITER_MALLOC),
        ("glibc.pthread.rseq=0", f"glibc.pthread.rseq=0:{WRITER_MALLOC}"),
        ("glibc.malloc.arena_max=2", "glibc.malloc.arena_max=2"),
    ],
)
def test_the_writer_keeps_its_heap_unless_told(setting, expected) -> None:  # type: ignore[no-untyped-def]
    """glibc gave the writer's heap back after every write and the next write faulted it in
    again; the writer starts with malloc tunables that keep it, added to other tunables in the
    server's environment, and none of its own when that environment sets a malloc tunable.
    (glibc rewrites the variable in place as it reads it, so /proc shows it cut short: the
    environment is checked as the writer is given it.)"""
    server = {"PATH": "/usr/bin"} if setting is None else {"GLIBC_TUNABLES": setting}
    assert writer_environment(server)["GLIBC_TUNABLES"] == expected
