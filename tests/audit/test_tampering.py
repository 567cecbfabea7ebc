"""The audit log through ``usina audit``: a scripted sequence of appends gives one record each
on a valid chain; an edited, deleted, reordered, rehashed or cut-short log is caught by
``usina audit verify`` (exit 1, the record named); bad input exits 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from usina.audit import AuditEvent, SqlAuditStore
from usina.audit.chain import record_hash
from usina.store import Database
from usina.store import schema as t

KEY = "a-test-key-of-32-characters-long"
N = 200


def usina(
    db_url: str, home: Path, *args: str, key: str | None = KEY
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    env |= {"USINA_HOME": str(home), "USINA_DB_URL": db_url, "COLUMNS": "200"}
    if key is not None:
        env["USINA_AUDIT_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "usina", *args], capture_output=True, text=True, env=env, timeout=120
    )


def scripted(i: int) -> AuditEvent:
    """The i-th call of a mixed script: reads, writes, deploys, logins; every fifth denied."""
    kind = ("usina.models.read", "usina.runs.write", "usina.models.deploy", "auth.login")[i % 4]
    deny = i % 5 == 4
    return AuditEvent(
        actor=f"user-{i % 7}",
        action=kind,
        resource="" if kind == "auth.login" else f"models/m{i % 3}",
        decision="deny" if deny else "allow",
        status=403 if deny else (201 if kind == "usina.runs.write" else 200),
        request_id=f"req-{i:04d}",
        client=f"10.0.0.{i % 250}",
        details={"call": i},
    )


@pytest.fixture
def log(db_url: str):  # type: ignore[no-untyped-def]
    """``N`` scripted calls appended in batches of 1 to 13 on ``db_url``; the database."""
    db = Database(db_url)
    store = SqlAuditStore(db)
    i = 0
    size = 1
    while i < N:
        batch = [scripted(j) for j in range(i, min(N, i + size))]
        store.append(batch)
        i += len(batch)
        size = size % 13 + 1
    yield db
    db.dispose()


def _execute(db: Database, *statements: sa.Executable) -> None:
    with db.engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)


def _verify(db: Database, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return usina(db.url, home, "audit", "verify", *args)


def test_each_call_is_one_record_on_a_valid_chain(log: Database, tmp_path: Path) -> None:
    out = _verify(log, tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"audit log intact: {N} records, head {N}" in out.stdout
    listed = usina(log.url, tmp_path, "audit", "list", "--limit", "1000", "--json")
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert [r["request_id"] for r in reversed(records)] == [f"req-{i:04d}" for i in range(N)]
    assert sum(r["decision"] == "deny" for r in records) == N // 5
    denied = usina(
        log.url,
        tmp_path,
        "audit",
        "list",
        "--decision",
        "deny",
        "--actor",
        "user-4",
        "--resource",
        "models/*",
        "--since",
        "1h",
        "--json",
    )
    assert denied.returncode == 0, denied.stderr
    assert {(r["actor"], r["decision"]) for r in json.loads(denied.stdout)} == {("user-4", "deny")}


def test_an_edited_record_is_named(log: Database, tmp_path: Path) -> None:
    _execute(log, t.audit_records.update().where(t.audit_records.c.seq == 57).values(actor="x"))
    out = _verify(log, tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "record 57 was edited" in out.stderr


def test_an_edited_detail_is_named(log: Database, tmp_path: Path) -> None:
    _execute(
        log,
        t.audit_records.update().where(t.audit_records.c.seq == 120).values(details='{"call":1}'),
    )
    out = _verify(log, tmp_path, "--json")
    assert out.returncode == 1
    problem = json.loads(out.stdout)["problem"]
    assert (problem["kind"], problem["seq"]) == ("edited", 120)


def test_a_deleted_record_is_named(log: Database, tmp_path: Path) -> None:
    _execute(log, t.audit_records.delete().where(t.audit_records.c.seq.in_([100, 101])))
    out = _verify(log, tmp_path)
    assert out.returncode == 1
    assert "records 100 to 101 are missing: they were deleted" in out.stderr


def test_swapped_records_are_named(log: Database, tmp_path: Path) -> None:
    c = t.audit_records.c
    _execute(
        log,
        t.audit_records.update().where(c.seq == 30).values(seq=-1),
        t.audit_records.update().where(c.seq == 31).values(seq=30),
        t.audit_records.update().where(c.seq == -1).values(seq=31),
    )
    out = _verify(log, tmp_path)
    assert out.returncode == 1
    assert "record 30 is out of order: in the chain it follows the record now at 31" in out.stderr


def test_a_record_rehashed_after_an_edit_is_named(log: Database, tmp_path: Path) -> None:
    # A careful forger recomputes the edited record's hash; the next record still holds the old.
    with log.engine.begin() as conn:
        row = conn.execute(sa.select(t.audit_records).where(t.audit_records.c.seq == 40)).one()
        fields = {k: getattr(row, k) for k in row._fields if k != "hash"}
        fields |= {"decision": "allow", "details": json.loads(row.details)}
        forged = record_hash(**fields)
        conn.execute(
            t.audit_records.update()
            .where(t.audit_records.c.seq == 40)
            .values(decision="allow", hash=forged)
        )
    out = _verify(log, tmp_path)
    assert out.returncode == 1
    assert "record 40 was edited or replaced after record 41 was written" in out.stderr


def test_a_cut_tail_is_caught_by_the_head_or_a_checkpoint(log: Database, tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    made = usina(log.url, tmp_path, "audit", "checkpoint", "--out", str(checkpoint))
    assert made.returncode == 0, made.stderr
    assert f"checkpoint of record {N}" in made.stdout
    assert json.loads(checkpoint.read_text())["seq"] == N

    c = t.audit_records.c
    _execute(log, t.audit_records.delete().where(c.seq > 150))
    out = _verify(log, tmp_path)
    assert out.returncode == 1
    assert f"the log ends at record 150 but its head says {N}" in out.stderr

    # Moving the head back too hides the cut from the chain alone, not from the checkpoint.
    with log.engine.begin() as conn:
        last = conn.execute(sa.select(c.hash).where(c.seq == 150)).scalar_one()
        conn.execute(t.audit_head.update().values(seq=150, hash=last))
    assert _verify(log, tmp_path).returncode == 0
    out = _verify(log, tmp_path, "--checkpoint", str(checkpoint))
    assert out.returncode == 1
    assert f"the log ends at record 150 but the checkpoint covers record {N}" in out.stderr
    assert f"records 151 to {N} are missing" in out.stderr


def test_a_checkpoint_needs_its_key_and_its_signature(log: Database, tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    out = usina(log.url, tmp_path, "audit", "checkpoint", "--out", str(checkpoint), key=None)
    assert out.returncode == 2 and "USINA_AUDIT_KEY" in out.stderr and not checkpoint.exists()
    assert usina(log.url, tmp_path, "audit", "checkpoint", "-o", str(checkpoint)).returncode == 0
    good = _verify(log, tmp_path, "--checkpoint", str(checkpoint))
    assert good.returncode == 0 and f"matches the checkpoint at record {N}" in good.stdout

    other_key = usina(
        log.url,
        tmp_path,
        "audit",
        "verify",
        "--checkpoint",
        str(checkpoint),
        key="another-key-of-enough-length",
    )
    assert other_key.returncode == 2 and "signature" in other_key.stderr
    content = json.loads(checkpoint.read_text())
    checkpoint.write_text(json.dumps({**content, "seq": 150}))
    altered = _verify(log, tmp_path, "--checkpoint", str(checkpoint))
    assert altered.returncode == 2 and "the file was altered" in altered.stderr
    checkpoint.write_text("not json")
    assert _verify(log, tmp_path, "--checkpoint", str(checkpoint)).returncode == 2
    missing = _verify(log, tmp_path, "--checkpoint", str(tmp_path / "absent.json"))
    assert missing.returncode == 2 and "cannot read the checkpoint" in missing.stderr


def test_a_tampered_log_is_not_checkpointed(log: Database, tmp_path: Path) -> None:
    _execute(log, t.audit_records.delete().where(t.audit_records.c.seq == 3))
    checkpoint = tmp_path / "checkpoint.json"
    out = usina(log.url, tmp_path, "audit", "checkpoint", "--out", str(checkpoint))
    assert out.returncode == 1 and "record 3 is missing" in out.stderr
    assert not checkpoint.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "yesterday"), "since 'yesterday' is not a time"),
        (("--until", "2026-13-01"), "until '2026-13-01' is not a time"),
        (("--decision", "maybe"), "decision 'maybe' is not 'allow' or 'deny'"),
        (("--action", "Deploy"), "action 'Deploy' is not an action"),
        (("--since", "2h", "--until", "3h"), "is before since"),
    ],
)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bad_filters_exit_2(
    db_url: str, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    out = usina(db_url, tmp_path, "audit", "list", *args)
    assert out.returncode == 2, out.stdout
    assert message in out.stderr and "Traceback" not in out.stderr
