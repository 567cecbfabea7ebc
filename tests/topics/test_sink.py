"""The sink: a topic's records land in a table as Parquet by day, each record exactly once,
even when the sink is killed in the middle of a write or between a write and its commit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from resources.processes import StartedProcesses
from topics.conftest import log_url
from usina.client import Client
from usina.topics import Retention, TopicColumn, TopicSpec
from usina.topics.sink import TableSink

KILLED = Path(__file__).parents[1] / "resources" / "killed_sink.py"
COLUMNS = (TopicColumn("user_id", "int64"), TopicColumn("amount", "double"))


def rows(root: Path, table: str) -> pa.Table:
    files = sorted((root / "tables" / table).rglob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else pa.table({})


def test_sink_writes_each_record_once_by_day(tmp_path: Path, client_factory) -> None:  # type: ignore[no-untyped-def]
    client = client_factory(f"sqlite:///{tmp_path / 'usina.db'}", str(tmp_path / "a"))
    client.topics.create(TopicSpec("payments", COLUMNS, Retention()))
    for start in range(0, 300, 100):
        client.topics.publish(
            "payments", [{"user_id": i, "amount": i / 2} for i in range(start, start + 100)]
        )
    sink = TableSink(client.topics, client.artifacts, "payments", "payments", wait=0.2)
    assert sink.run(once=True) == 300
    table = rows(tmp_path / "a", "payments")
    assert sorted(table["user_id"].to_pylist()) == list(range(300))
    assert table["amount"].to_pylist()[:2] == [0.0, 0.5]
    [name] = {p.parent.name for p in (tmp_path / "a" / "tables" / "payments").rglob("*.parquet")}
    assert name.startswith("date=20")

    # A new sink continues where the table ends; nothing is written twice.
    client.topics.publish("payments", [{"user_id": 300, "amount": 1.0}])
    again = TableSink(client.topics, client.artifacts, "payments", "payments", wait=0.2)
    assert again.run(once=True) == 1
    assert rows(tmp_path / "a", "payments").num_rows == 301

    from usina.batch.query import connect_tables

    sql = connect_tables(client.artifacts, tmp_path / "scratch")
    count, distinct = sql.execute(
        "select count(*), count(distinct _offset) from payments where date is not null"
    ).fetchone()
    assert (count, distinct) == (301, 301)


# Killed after its file landed and before the commit (the case an offset-committing sink gets
# wrong) on every backend; killed while writing on the embedded log (the sink's own logic is
# the same on every backend there).
@pytest.mark.parametrize(
    ("backend", "mode"),
    [("embedded", "before"), ("embedded", "after"), ("redis", "after"), ("nats", "after")],
)
def test_killed_sink_neither_loses_nor_duplicates(
    backend: str, mode: str, tmp_path: Path, processes: StartedProcesses
) -> None:
    topics_url = log_url(backend, tmp_path)
    db, artifacts = f"sqlite:///{tmp_path / 'usina.db'}", str(tmp_path / "a")
    client = Client(db, artifacts, topics=topics_url)
    topic = f"sink-{mode}-{tmp_path.name[-8:]}".replace("_", "-")
    client.topics.create(TopicSpec(topic, COLUMNS, Retention()))
    try:
        for start in range(0, 500, 100):
            client.topics.publish(
                topic, [{"user_id": i, "amount": 1.0} for i in range(start, start + 100)]
            )
        doomed = processes.start(
            [sys.executable, str(KILLED), mode, db, artifacts, topics_url, topic, "sunk"],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert doomed.stdout is not None
        assert doomed.stdout.readline().startswith(b"stopped"), "the sink ended early"
        doomed.kill()
        doomed.wait(30)
        # A poll may return fewer than 100 (NATS hands out what arrived within the wait), so
        # the files landed are counted, not their rows.
        files = list((tmp_path / "a" / "tables" / "sunk").rglob("*.parquet"))
        assert len(files) == (1 if mode == "before" else 2)
        landed = rows(tmp_path / "a", "sunk").num_rows

        written = TableSink(client.topics, client.artifacts, topic, "sunk", wait=0.5).run(once=True)
        assert written == 500 - landed
        ids = rows(tmp_path / "a", "sunk")["user_id"].to_pylist()
        assert len(ids) == 500, "records lost or written twice"
        assert sorted(ids) == list(range(500))
    finally:
        client.topics.delete(topic)
        client.close()
