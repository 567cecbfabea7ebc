"""Messages sealed at rest: with a master key, every value is encrypted (AES-256-GCM, bound to
its topic's name) before it reaches the log's backend, and opened when it is polled.

Whatever the backend keeps on disk (the embedded log's SQLite file, NATS JetStream's stream
files, a Redis dump) then holds no value in clear. Offsets, keys, times and delivery counts stay
in clear: they order and route messages. A value published before a key was configured is read
as it was stored; a value sealed under a key the ring no longer holds fails closed
(``KeyUnavailable``, naming the key id).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from usina.crypto import KeyProvider, is_sealed, open_bytes, seal_bytes
from usina.topics.base import TopicLog
from usina.topics.entities import Message, Retention


class SealedTopicLog:
    """``log`` (any ``TopicLog``) with its values sealed under ``keys``."""

    def __init__(self, log: TopicLog, keys: KeyProvider) -> None:
        self.log = log
        self.keys = keys

    def _bound(self, topic: str) -> bytes:
        return f"usina-topic:{topic}".encode()

    def configure(self, topic: str, retention: Retention) -> None:
        self.log.configure(topic, retention)

    def publish(
        self, topic: str, values: Sequence[bytes], keys: Sequence[str | None] | None = None
    ) -> list[int]:
        bound = self._bound(topic)
        sealed = [seal_bytes(self.keys, bytes(v), bound) for v in values]
        return self.log.publish(topic, sealed, keys)

    def poll(
        self, topic: str, group: str, consumer: str, max_messages: int = 100, wait: float = 0.0
    ) -> list[Message]:
        got = self.log.poll(topic, group, consumer, max_messages, wait)
        bound = self._bound(topic)
        return [
            dataclasses.replace(
                m, value=open_bytes(self.keys, m.value, bound, f"{topic}@{m.offset}")
            )
            if is_sealed(m.value[:8])
            else m
            for m in got
        ]

    def commit(self, topic: str, group: str, offsets: Sequence[int]) -> None:
        self.log.commit(topic, group, offsets)

    def seek(
        self, topic: str, group: str, *, offset: int | None = None, time: float | None = None
    ) -> None:
        self.log.seek(topic, group, offset=offset, time=time)

    def drop(self, topic: str) -> None:
        self.log.drop(topic)

    def close(self) -> None:
        self.log.close()
