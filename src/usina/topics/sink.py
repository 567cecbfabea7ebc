"""The sink: a topic's records appended to a table, a micro-batch at a time, each record once.

A sink consumes its topic in the group ``sink-<table>`` and writes each batch as Parquet files
under the artifact store's ``tables/<table>/date=YYYY-MM-DD/`` (the UTC day the records were
published), one file per run of consecutive records of one day, named by the offsets it holds:
``part-<first>-<last>.parquet``. Each file is one atomic write, and the batch's offsets are
committed only after its files are written.

Exactly-once, by offset: the table itself records how far the sink got (the highest ``last``
among its file names). A sink that starts seeks its group to just past that offset, so it
continues where the table ends whatever was committed; a record at or below it that comes
again (redelivered after a lease ran out) is committed without being written. A sink killed
after writing a file and before committing therefore writes nothing twice, and one killed
before its file landed writes the records again, under the same name. One sink per table runs
at a time (a second one in the same group would interleave offsets).

The table reads like any other: ``usina sql "select count(*) from clicks"``; each row carries
its ``_offset`` and ``_published_at`` beside the record's fields.
"""

from __future__ import annotations

import datetime
import io
import re
import threading
from dataclasses import dataclass
from typing import Any

from usina.artifacts import ArtifactStore
from usina.batch.tables import TABLES, check_table_name
from usina.topics.base import TopicStore
from usina.topics.entities import Message, TopicColumn

_PART = re.compile(r"part-(\d{20})-(\d{20})\.parquet$")


@dataclass(frozen=True)
class SinkBatch:
    """What one poll of a sink did: messages received, rows written, files written."""

    received: int
    written: int
    files: tuple[str, ...]


def _arrow_type(pa: Any, dtype: str) -> Any:
    return {"int64": pa.int64(), "double": pa.float64(), "string": pa.string()}.get(
        dtype, pa.bool_()
    )


class TableSink:
    """Appends topic ``topic``'s records to table ``table`` (see the module docstring).

    Example:
        >>> from usina import Client
        >>> from usina.topics import TopicColumn, TopicSpec
        >>> client = Client("sqlite://", "memory://")
        >>> _ = client.topics.create(TopicSpec("clicks", (TopicColumn("page", "int64"),)))
        >>> _ = client.topics.publish("clicks", [{"page": 1}, {"page": 2}])
        >>> TableSink(client.topics, client.artifacts, "clicks", "clicks").run_once().written
        2
    """

    def __init__(
        self,
        topics: TopicStore,
        artifacts: ArtifactStore,
        topic: str,
        table: str,
        *,
        consumer: str = "sink",
        max_messages: int = 10_000,
        wait: float = 1.0,
    ) -> None:
        self.topics = topics
        self.artifacts = artifacts
        self.topic = topic
        self.table = check_table_name(table)
        self.group = f"sink-{table}"
        self.consumer = consumer
        self.max_messages = max_messages
        self.wait = wait
        self._written_to: int | None = None
        self._columns: tuple[TopicColumn, ...] | None = None

    def written_to(self) -> int | None:
        """The highest offset the table holds (from its files' names); ``None`` when empty."""
        last = None
        for key in self.artifacts.list(f"{TABLES}/{self.table}"):
            found = _PART.search(key)
            if found is not None:
                last = max(last or 0, int(found.group(2)))
        return last

    def start(self) -> None:
        """Read the schema, and move the group to just past what the table holds."""
        self._columns = self.topics.get(self.topic).columns
        self._written_to = self.written_to()
        start = 0 if self._written_to is None else self._written_to + 1
        self.topics.seek(self.topic, self.group, offset=start)

    def run_once(self) -> SinkBatch:
        """Poll one batch, write what the table does not hold yet, then commit the batch."""
        if self._columns is None:
            self.start()
        messages = sorted(
            self.topics.poll(self.topic, self.group, self.consumer, self.max_messages, self.wait),
            key=lambda m: m.offset,
        )
        done = -1 if self._written_to is None else self._written_to
        fresh = [m for m in messages if m.offset > done]
        files = []
        for run in _runs_by_day(fresh):
            files.append(self._write(run))
            self._written_to = run[-1].offset
        if messages:
            self.topics.commit(self.topic, self.group, [m.offset for m in messages])
        return SinkBatch(len(messages), len(fresh), tuple(files))

    def run(self, stop: threading.Event | None = None, once: bool = False) -> int:
        """Run batches until ``stop`` is set (or, with ``once``, until a poll finds nothing);
        the number of rows written."""
        stop = stop or threading.Event()
        written = 0
        while not stop.is_set():
            batch = self.run_once()
            written += batch.written
            if once and batch.received == 0:
                break
        return written

    def _write(self, run: list[Message]) -> str:
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self._columns is not None
        records = [m.json() for m in run]
        arrays: dict[str, Any] = {}
        if self._columns:
            for c in self._columns:
                values = [r.get(c.name) for r in records]
                arrays[c.name] = pa.array(values, type=_arrow_type(pa, c.dtype))
        else:
            arrays["value"] = pa.array([m.value.decode() for m in run], type=pa.string())
        arrays["_offset"] = pa.array([m.offset for m in run], type=pa.int64())
        arrays["_published_at"] = pa.array(
            [round(m.published_at * 1e6) for m in run], type=pa.timestamp("us", tz="UTC")
        )
        buffer = io.BytesIO()
        pq.write_table(pa.table(arrays), buffer, compression="zstd")
        day = _day(run[0])
        key = (
            f"{TABLES}/{self.table}/date={day}/"
            f"part-{run[0].offset:020d}-{run[-1].offset:020d}.parquet"
        )
        self.artifacts.write(key, buffer.getvalue())
        return key


def _day(message: Message) -> str:
    return datetime.datetime.fromtimestamp(message.published_at, datetime.UTC).date().isoformat()


def _runs_by_day(messages: list[Message]) -> list[list[Message]]:
    runs: list[list[Message]] = []
    for m in messages:
        if runs and _day(runs[-1][-1]) == _day(m):
            runs[-1].append(m)
        else:
            runs.append([m])
    return runs
