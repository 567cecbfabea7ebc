"""The embedded topic log: one SQLite file (``<usina home>/topics.db`` by default).

WAL mode, so readers never block the writer; each ``publish`` is one ``BEGIN IMMEDIATE``
transaction whatever the number of records. ``synchronous=FULL``: in WAL mode that syncs the
log on every commit, so a publish that returned survives a power loss, not only a crash of
the process (``NORMAL`` would only survive the latter, and the promise is "durable when
acknowledged"). Groups keep a position (the next offset to hand out) and one lease row per
message handed out and not yet committed; a lease past its deadline is handed to the next
member that polls. Several processes may share the file: SQLite serializes their writes.

Retention is applied as messages are published: past ``max_messages`` by offset on every
publish, past ``max_age`` at most once a second (by offset: up to the first message young
enough).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from usina.topics.base import lease_of
from usina.topics.entities import Message, Retention

_SCHEMA = """
create table if not exists topics (
    name text primary key, next_offset integer not null,
    max_age real, max_messages integer
);
create table if not exists messages (
    topic text not null, offset integer not null, key text, value blob not null,
    published_at real not null, primary key (topic, offset)
) without rowid;
create table if not exists groups (
    topic text not null, grp text not null, position integer not null,
    primary key (topic, grp)
) without rowid;
create table if not exists leases (
    topic text not null, grp text not null, offset integer not null, consumer text not null,
    until real not null, deliveries integer not null, primary key (topic, grp, offset)
) without rowid;
create index if not exists ix_leases_until on leases (topic, grp, until);
"""


class EmbeddedTopicLog:
    """Topics in a SQLite file (``usina.topics.base.TopicLog``).

    Example:
        >>> log = EmbeddedTopicLog("sqlite://")
        >>> log.publish("t", [b"a", b"b"])
        [0, 1]
        >>> log.close()
    """

    def __init__(self, url: str = "sqlite://", *, lease: float | None = None) -> None:
        self.url = url
        self.lease = lease if lease is not None else lease_of(url)
        self._lock = threading.Lock()
        self._published = threading.Condition(self._lock)
        self._conn: sqlite3.Connection | None = None
        self._aged_at: dict[str, float] = {}

    @property
    def path(self) -> str:
        raw = unquote(urlsplit(self.url).path)
        return raw[1:] if raw.startswith("/") else raw  # sqlite:///abs -> /abs

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            path = self.path or ":memory:"
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("pragma busy_timeout = 30000")
            conn.execute("pragma journal_mode = wal")
            conn.execute("pragma synchronous = full")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def _write(self, work):  # type: ignore[no-untyped-def]
        conn = self._connection()
        conn.execute("begin immediate")
        try:
            result = work(conn)
        except BaseException:
            conn.execute("rollback")
            raise
        conn.execute("commit")
        return result

    def configure(self, topic: str, retention: Retention) -> None:
        with self._lock:
            self._write(
                lambda c: c.execute(
                    "insert into topics values (?, 0, ?, ?) on conflict (name) do update set "
                    "max_age = excluded.max_age, max_messages = excluded.max_messages",
                    (topic, retention.max_age, retention.max_messages),
                )
            )

    def publish(
        self, topic: str, values: Sequence[bytes], keys: Sequence[str | None] | None = None
    ) -> list[int]:
        if not values:
            return []
        now = time.time()
        keyed = keys if keys is not None else [None] * len(values)

        def work(conn: sqlite3.Connection) -> list[int]:
            row = conn.execute(
                "select next_offset, max_age, max_messages from topics where name = ?", (topic,)
            ).fetchone()
            if row is None:
                conn.execute("insert into topics values (?, 0, null, null)", (topic,))
                row = (0, None, None)
            first, max_age, max_messages = row
            conn.executemany(
                "insert into messages values (?, ?, ?, ?, ?)",
                [(topic, first + i, keyed[i], value, now) for i, value in enumerate(values)],
            )
            end = first + len(values)
            conn.execute("update topics set next_offset = ? where name = ?", (end, topic))
            if max_messages is not None and end - max_messages > 0:
                conn.execute(
                    "delete from messages where topic = ? and offset < ?",
                    (topic, end - max_messages),
                )
            if max_age is not None and now - self._aged_at.get(topic, 0.0) >= 1.0:
                self._aged_at[topic] = now
                # Reads from the oldest message up to the first one young enough: the cost is
                # the messages dropped, not the topic's size.
                conn.execute(
                    "delete from messages where topic = ? and offset < coalesce((select offset "
                    "from messages where topic = ? and published_at >= ? order by offset "
                    "limit 1), ?)",
                    (topic, topic, now - max_age, end),
                )
            return list(range(first, end))

        with self._lock:
            offsets: list[int] = self._write(work)
            self._published.notify_all()
        return offsets

    def poll(
        self, topic: str, group: str, consumer: str, max_messages: int = 100, wait: float = 0.0
    ) -> list[Message]:
        deadline = time.monotonic() + wait
        with self._lock:
            while True:
                found: list[Message] = self._write(
                    lambda c: self._lease(c, topic, group, consumer, max_messages)
                )
                left = deadline - time.monotonic()
                if found or left <= 0:
                    return found
                # Woken at once by a publish of this process; other processes' publishes
                # and expiring leases are seen within 50 ms.
                self._published.wait(min(left, 0.05))

    def _lease(
        self, conn: sqlite3.Connection, topic: str, group: str, consumer: str, limit: int
    ) -> list[Message]:
        now = time.time()
        until = now + self.lease
        claimed = conn.execute(
            "select offset, deliveries from leases where topic = ? and grp = ? and until < ? "
            "order by offset limit ?",
            (topic, group, now, limit),
        ).fetchall()
        if claimed:
            conn.executemany(
                "update leases set consumer = ?, until = ?, deliveries = deliveries + 1 "
                "where topic = ? and grp = ? and offset = ?",
                [(consumer, until, topic, group, o) for o, _ in claimed],
            )
        messages: list[Message] = []
        if claimed:
            again = {o: d + 1 for o, d in claimed}
            low, high = claimed[0][0], claimed[-1][0]
            messages = [
                Message(topic, o, value, at, key, again[o])
                for o, key, value, at in conn.execute(
                    "select offset, key, value, published_at from messages where topic = ? "
                    "and offset between ? and ? order by offset",
                    (topic, low, high),
                )
                if o in again
            ]
            if len(messages) < len(again):  # removed by retention while leased
                kept = {m.offset for m in messages}
                conn.executemany(
                    "delete from leases where topic = ? and grp = ? and offset = ?",
                    [(topic, group, o) for o in again if o not in kept],
                )
        room = limit - len(claimed)
        if room > 0:
            row = conn.execute(
                "select position from groups where topic = ? and grp = ?", (topic, group)
            ).fetchone()
            position = row[0] if row is not None else 0
            fresh = [
                Message(topic, o, value, at, key, 1)
                for o, key, value, at in conn.execute(
                    "select offset, key, value, published_at from messages where topic = ? "
                    "and offset >= ? order by offset limit ?",
                    (topic, position, room),
                )
            ]
            if fresh:
                # One statement for the whole batch (the leases are exactly these offsets).
                conn.execute(
                    "insert or replace into leases select topic, ?, offset, ?, ?, 1 from "
                    "messages where topic = ? and offset between ? and ?",
                    (group, consumer, until, topic, fresh[0].offset, fresh[-1].offset),
                )
                position = fresh[-1].offset + 1
                messages += fresh
            if fresh or row is None:
                conn.execute(
                    "insert into groups values (?, ?, ?) on conflict (topic, grp) do update set "
                    "position = excluded.position",
                    (topic, group, position),
                )
        return messages

    def commit(self, topic: str, group: str, offsets: Sequence[int]) -> None:
        if not offsets:
            return
        ordered = sorted(set(offsets))

        def work(conn: sqlite3.Connection) -> None:
            if ordered[-1] - ordered[0] + 1 == len(ordered):  # a contiguous batch: one range
                conn.execute(
                    "delete from leases where topic = ? and grp = ? and offset between ? and ?",
                    (topic, group, ordered[0], ordered[-1]),
                )
            else:
                conn.executemany(
                    "delete from leases where topic = ? and grp = ? and offset = ?",
                    [(topic, group, o) for o in ordered],
                )

        with self._lock:
            self._write(work)

    def seek(
        self, topic: str, group: str, *, offset: int | None = None, time: float | None = None
    ) -> None:
        def work(conn: sqlite3.Connection) -> None:
            if time is not None:
                row = conn.execute(
                    "select min(offset) from messages where topic = ? and published_at >= ?",
                    (topic, time),
                ).fetchone()
                end = conn.execute(
                    "select next_offset from topics where name = ?", (topic,)
                ).fetchone()
                target = row[0] if row[0] is not None else (end[0] if end else 0)
            else:
                target = offset
            conn.execute("delete from leases where topic = ? and grp = ?", (topic, group))
            conn.execute(
                "insert into groups values (?, ?, ?) on conflict (topic, grp) do update set "
                "position = excluded.position",
                (topic, group, target),
            )

        with self._lock:
            self._write(work)

    def drop(self, topic: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            for table, column in (
                ("messages", "topic"),
                ("groups", "topic"),
                ("leases", "topic"),
                ("topics", "name"),
            ):
                conn.execute(f"delete from {table} where {column} = ?", (topic,))

        with self._lock:
            self._write(work)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
