"""Topics on Redis Streams: one stream per topic (``usina:topic:<name>``), one Redis consumer
group per usina group.

``publish`` is ``XADD`` of every record in one pipeline (one round trip), trimmed exactly to
``max_messages``; ``poll`` first ``XAUTOCLAIM``s messages idle in the group for longer than
the lease, then ``XREADGROUP``s new ones; ``commit`` is ``XACK``; ``seek`` recreates the group
at the stream id before the target, which also drops its pending entries.

Offsets are the stream ids as integers: ``milliseconds * 1,000,000 + sequence`` (Redis counts
at most a few thousand entries in one millisecond, far below a million).

Durability is the Redis server's: a publish returns once Redis holds the records in memory,
and they reach disk only as its ``appendonly``/``save`` settings say (``appendonly yes`` with
``appendfsync always`` for the embedded log's guarantee).
"""

from __future__ import annotations

import time as clock
from collections.abc import Sequence
from typing import Any

from usina.topics.base import lease_of
from usina.topics.entities import Message, Retention

_SCALE = 1_000_000
_MAX_SEQ = 2**64 - 1


def to_offset(stream_id: bytes | str) -> int:
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = text.partition("-")
    return int(ms) * _SCALE + int(seq)


def to_id(offset: int) -> str:
    return f"{offset // _SCALE}-{offset % _SCALE}"


def _before(offset: int) -> str:
    """The stream id just before ``offset`` (``XGROUP CREATE`` delivers what follows it)."""
    ms, seq = divmod(offset, _SCALE)
    if seq:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-{_MAX_SEQ}" if ms else "0-0"


class RedisTopicLog:
    """Topics on Redis Streams (``usina.topics.base.TopicLog``); ``redis://host:port/db``."""

    def __init__(self, url: str, *, lease: float | None = None) -> None:
        import redis

        self.url = url
        self.lease = lease if lease is not None else lease_of(url)
        self.redis: Any = redis.Redis.from_url(url.split("?", 1)[0])
        self._retention: dict[str, Retention] = {}
        self._groups: set[tuple[str, str]] = set()

    @staticmethod
    def key(topic: str) -> str:
        return f"usina:topic:{topic}"

    def configure(self, topic: str, retention: Retention) -> None:
        self._retention[topic] = retention
        self.redis.hset(
            f"usina:topic-retention:{topic}",
            mapping={
                "max_age": "" if retention.max_age is None else retention.max_age,
                "max_messages": "" if retention.max_messages is None else retention.max_messages,
            },
        )

    def _retention_of(self, topic: str) -> Retention:
        found = self._retention.get(topic)
        if found is None:
            stored = self.redis.hgetall(f"usina:topic-retention:{topic}")
            age = stored.get(b"max_age", b"")
            count = stored.get(b"max_messages", b"")
            found = Retention(float(age) if age else None, int(count) if count else None)
            self._retention[topic] = found
        return found

    def publish(
        self, topic: str, values: Sequence[bytes], keys: Sequence[str | None] | None = None
    ) -> list[int]:
        if not values:
            return []
        retention = self._retention_of(topic)
        trim: dict[str, Any] = {}
        if retention.max_messages is not None:
            trim = {"maxlen": retention.max_messages, "approximate": False}
        pipe = self.redis.pipeline(transaction=False)
        stream = self.key(topic)
        for i, value in enumerate(values):
            key = keys[i] if keys is not None else None
            fields = {"v": value} if key is None else {"v": value, "k": key}
            pipe.xadd(stream, fields, **trim)
        if retention.max_age is not None:
            cutoff = int((clock.time() - retention.max_age) * 1000)
            pipe.xtrim(stream, minid=f"{cutoff}-0", approximate=False)
        replies = pipe.execute()
        return [to_offset(r) for r in replies[: len(values)]]

    def _ensure_group(self, topic: str, group: str) -> None:
        if (topic, group) in self._groups:
            return
        import redis

        try:
            self.redis.xgroup_create(self.key(topic), group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add((topic, group))

    def _message(self, topic: str, stream_id: bytes, fields: dict[bytes, bytes], n: int) -> Message:
        offset = to_offset(stream_id)
        key = fields.get(b"k")
        return Message(
            topic,
            offset,
            fields[b"v"],
            (offset // _SCALE) / 1000.0,
            key.decode() if key is not None else None,
            n,
        )

    def poll(
        self, topic: str, group: str, consumer: str, max_messages: int = 100, wait: float = 0.0
    ) -> list[Message]:
        self._ensure_group(topic, group)
        stream = self.key(topic)
        found: list[Message] = []
        claimed = self.redis.xautoclaim(
            stream, group, consumer, int(self.lease * 1000), "0-0", count=max_messages
        )
        entries = [(i, f) for i, f in claimed[1] if f]
        if entries:
            pending = self.redis.xpending_range(
                stream, group, entries[0][0], entries[-1][0], len(entries) + 100, consumer
            )
            counts = {p["message_id"]: p["times_delivered"] for p in pending}
            found = [self._message(topic, i, f, int(counts.get(i, 2))) for i, f in entries]
        room = max_messages - len(found)
        if room > 0:
            block = int(wait * 1000) if wait > 0 and not found else None
            replies = self.redis.xreadgroup(group, consumer, {stream: ">"}, room, block)
            for _, items in replies or []:
                found.extend(self._message(topic, i, f, 1) for i, f in items)
        return found

    def commit(self, topic: str, group: str, offsets: Sequence[int]) -> None:
        if offsets:
            self.redis.xack(self.key(topic), group, *[to_id(o) for o in offsets])

    def seek(
        self, topic: str, group: str, *, offset: int | None = None, time: float | None = None
    ) -> None:
        target = int(time * 1000) * _SCALE if time is not None else (offset or 0)
        start = _before(target)
        self._ensure_group(topic, group)
        stream = self.key(topic)
        pipe = self.redis.pipeline(transaction=True)
        pipe.xgroup_destroy(stream, group)
        pipe.xgroup_create(stream, group, id=start, mkstream=True)
        pipe.execute()
        self._groups.add((topic, group))

    def drop(self, topic: str) -> None:
        self.redis.delete(self.key(topic), f"usina:topic-retention:{topic}")
        self._retention.pop(topic, None)
        self._groups = {g for g in self._groups if g[0] != topic}

    def close(self) -> None:
        self.redis.close()
