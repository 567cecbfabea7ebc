"""Several processes appending at once keep one linear chain, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

from usina.audit import SqlAuditStore
from usina.store import Database

WORKER = str(Path(__file__).parents[1] / "resources" / "audit_worker.py")


def test_six_processes_appending_at_once_keep_one_chain(db_url, processes) -> None:
    db = Database(db_url)
    db.migrate()  # the table race is tested elsewhere
    db.dispose()
    names = [f"w{i}" for i in range(6)]
    procs = [
        processes.start(
            [sys.executable, WORKER, db_url, name, "60"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:  # all at once
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=300) for p in procs]
    failed = [err for p, (_, err) in zip(procs, outputs, strict=True) if p.returncode != 0]
    assert failed == [], failed[:1]
    said = {name: out.split() for name, (out, _) in zip(names, outputs, strict=True)}
    counts = {name: int(n) for name, (n, _, _) in said.items()}
    starts = [float(start) for _, start, _ in said.values()]
    ends = [float(end) for _, _, end in said.values()]

    store = SqlAuditStore(db)
    total = sum(counts.values())
    verification = store.verify()
    assert verification.ok, verification.problem
    assert verification.checked == total and verification.head.seq == total
    records = list(reversed(store.list(limit=10_000)))
    assert [r.seq for r in records] == list(range(1, total + 1)), "one chain, no gaps"
    for name in names:
        mine = [r.request_id for r in records if r.actor == name]
        assert mine == [f"{name}-{i}" for i in range(counts[name])], "each writer's order kept"
    # Every writer was appending while every other one was: the last to start started before
    # the first to finish finished, so their appends contended for the chain's head.
    assert max(starts) < min(ends)
    if db_url.startswith("postgresql"):
        # PostgreSQL queues the waiting writers, so their records interleave. SQLite's busy
        # handler sleeps between tries instead, and one writer may take the lock again and
        # again meanwhile, so there a chain of whole runs, one writer's after another's, is
        # just as valid.
        switches = sum(1 for a, b in itertools.pairwise(records) if a.actor != b.actor)
        assert switches > len(names)
    db.dispose()
