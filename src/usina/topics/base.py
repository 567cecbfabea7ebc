"""The two protocols of topics, and the table of log backends by URL scheme.

``TopicLog`` is where messages live: an append-only log per topic, read by consumer groups.
Its contract, checked on every backend by ``usina.testing.check_topic_log``:

- ``publish`` appends records in order and returns their offsets once they are durable (what
  durable means on each backend: docs/topics.md).
- ``poll`` leases up to ``max_messages`` messages to one consumer of a group: first those whose
  lease expired (their consumer died or stalled), then new ones in offset order. Each member of
  a group gets different messages.
- ``commit`` ends the leases of the offsets a consumer processed; what is not committed within
  the lease is delivered again (at-least-once).
- ``seek`` moves a group to an offset or a time: the next polls replay from there.

``TopicStore`` is the resource: topics in the metadata database with the schema their records
follow, and the same verbs by topic name, records checked before anything is appended.

Example:
    >>> log = open_topic_log("sqlite://")
    >>> log.publish("clicks", [b'{"page": 1}', b'{"page": 2}'])
    [0, 1]
    >>> [m.json() for m in log.poll("clicks", "etl", "worker-1")]
    [{'page': 1}, {'page': 2}]
    >>> log.commit("clicks", "etl", [0, 1])
    >>> log.close()
"""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from usina.errors import InvalidInput
from usina.topics.entities import Message, Retention, Topic, TopicSpec

# URL scheme: the log backend, "module:Class" under usina.topics.
LOGS: dict[str, str] = {
    "sqlite": "embedded:EmbeddedTopicLog",
    "redis": "redis:RedisTopicLog",
    "nats": "nats:NatsTopicLog",
    "pubsub": "pubsub:PubSubTopicLog",
}
DEFAULT_LEASE = 30.0


class TopicLog(Protocol):
    """Messages of topics, consumed in groups with leases (see the module docstring)."""

    def configure(self, topic: str, retention: Retention) -> None:
        """Create ``topic``'s storage if absent and apply ``retention`` to it."""
        ...

    def publish(
        self, topic: str, values: Sequence[bytes], keys: Sequence[str | None] | None = None
    ) -> list[int]:
        """Append ``values`` in order; their offsets, once durable."""
        ...

    def poll(
        self, topic: str, group: str, consumer: str, max_messages: int = 100, wait: float = 0.0
    ) -> list[Message]:
        """Lease up to ``max_messages`` to ``consumer`` of ``group``, waiting up to ``wait``
        seconds for one when none is ready."""
        ...

    def commit(self, topic: str, group: str, offsets: Sequence[int]) -> None:
        """Mark ``offsets`` processed by ``group``; unknown or already committed ones are
        ignored."""
        ...

    def seek(
        self, topic: str, group: str, *, offset: int | None = None, time: float | None = None
    ) -> None:
        """Make ``group``'s next polls start at ``offset``, or at the first message published
        at or after ``time``; its open leases are dropped."""
        ...

    def drop(self, topic: str) -> None:
        """Delete ``topic``'s messages and groups."""
        ...

    def close(self) -> None: ...


class TopicStore(Protocol):
    """Topics as a resource: ``create``/``get``/``list``/``delete`` in the metadata database;
    ``publish``/``poll``/``commit``/``seek`` on the installation's topic log."""

    def create(self, spec: TopicSpec) -> Topic: ...

    def get(self, name: str) -> Topic: ...

    def list(self, *, limit: int = 100, offset: int = 0) -> builtins.list[Topic]: ...

    def delete(self, name: str) -> None: ...

    def publish(self, name: str, records: Sequence[dict[str, Any]]) -> builtins.list[int]:
        """Check every record against the topic's schema, then append them all; nothing is
        appended when one is bad (``InvalidInput`` names its index and field)."""
        ...

    def poll(
        self, name: str, group: str, consumer: str, max_messages: int = 100, wait: float = 0.0
    ) -> builtins.list[Message]: ...

    def commit(self, name: str, group: str, offsets: Sequence[int]) -> None: ...

    def seek(
        self, name: str, group: str, *, offset: int | None = None, time: float | None = None
    ) -> None: ...


def lease_of(url: str) -> float:
    """The ``lease`` query parameter of a log URL (seconds), 30 by default."""
    found = parse_qs(urlsplit(url).query).get("lease")
    if not found:
        return DEFAULT_LEASE
    try:
        lease = float(found[0])
    except ValueError:
        lease = -1.0
    if not 0 < lease <= 3600:
        raise InvalidInput(
            f"lease {found[0]!r} in the topics URL is not 0 to 3600 seconds", field="topics_url"
        )
    return lease


def open_topic_log(url: str, keys: Any = None) -> TopicLog:
    """The log at ``url``: ``sqlite:///path/topics.db`` (or ``sqlite://`` in memory),
    ``redis://host:6379/0``, ``nats://host:4222``, ``pubsub://project``; ``?lease=SECONDS``
    sets how long a polled message stays leased to its consumer. With ``keys`` (the master key
    ring), values are sealed before the backend keeps them (``usina.topics.sealed``)."""
    scheme = url.partition("://")[0] if isinstance(url, str) and "://" in url else ""
    row = LOGS.get(scheme)
    if row is None:
        raise InvalidInput(
            f"topics URL {url!r} has no known scheme; use one of "
            f"{', '.join(s + '://' for s in LOGS)} (USINA_TOPICS_URL)",
            field="topics_url",
        )
    module, _, name = row.partition(":")
    cls = getattr(importlib.import_module(f"usina.topics.{module}"), name)
    found: TopicLog = cls(url)
    if keys is not None:
        from usina.topics.sealed import SealedTopicLog

        return SealedTopicLog(found, keys)
    return found
