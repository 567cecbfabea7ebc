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
    counts = {name: int(out) for name, (out, _) in zip(names, outputs, strict=True)}

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
    # The writers interleaved: the chain is not one writer's run after another's.
    switches = sum(1 for a, b in itertools.pairwise(records) if a.actor != b.actor)
    assert switches > len(names)
    db.dispose()
