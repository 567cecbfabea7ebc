"""Topics on Google Cloud Pub/Sub, behind the ``pubsub`` extra: ``pubsub://PROJECT``.

Not tested here: Pub/Sub is a cloud service this project's machines cannot reach, and no
emulator runs in its CI. The mapping: a usina topic is the Pub/Sub topic ``usina-<name>``; a
group is the subscription ``usina-<name>-<group>`` (created on first poll, its ack deadline the
lease); ``publish`` waits for every message id (Pub/Sub stores a message in several zones before
answering); ``poll`` is a synchronous pull; ``commit`` acknowledges the ack ids this instance
received; ``seek`` by time is Pub/Sub's seek (the subscription must retain acked messages,
``retain_acked_messages``, to replay them). Pub/Sub has no offsets: a message's offset is its
message id, and ``seek(offset=...)`` is refused. Retention is the topic's
``message_retention_duration`` (``max_age``); ``max_messages`` is not supported.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from usina.errors import InvalidInput
from usina.topics.base import lease_of
from usina.topics.entities import Message, Retention

# Ack ids kept to commit by offset; past this many, the oldest are forgotten.
MAX_IN_FLIGHT = 1_000_000


class PubSubTopicLog:
    """Topics on Google Cloud Pub/Sub (``usina.topics.base.TopicLog``); untested here."""

    def __init__(self, url: str, *, lease: float | None = None) -> None:
        self.project = urlsplit(url).netloc
        if not self.project:
            raise InvalidInput(
                "a pubsub:// topics URL names the project: pubsub://PROJECT", field="topics_url"
            )
        self.lease = lease if lease is not None else lease_of(url)
        self._publisher: Any = None
        self._subscriber: Any = None
        self._ack_ids: dict[tuple[str, str, int], str] = {}
        self._created: set[str] = set()

    def _clients(self) -> tuple[Any, Any]:
        if self._publisher is None:
            from google.cloud import pubsub_v1  # type: ignore[attr-defined,unused-ignore]

            self._publisher = pubsub_v1.PublisherClient()
            self._subscriber = pubsub_v1.SubscriberClient()
        return self._publisher, self._subscriber

    def _topic(self, topic: str) -> str:
        return f"projects/{self.project}/topics/usina-{topic}"

    def _subscription(self, topic: str, group: str) -> str:
        return f"projects/{self.project}/subscriptions/usina-{topic}-{group}"

    def configure(self, topic: str, retention: Retention) -> None:
        from google.api_core.exceptions import AlreadyExists

        publisher, _ = self._clients()
        request: dict[str, Any] = {"name": self._topic(topic)}
        if retention.max_age is not None:
            request["message_retention_duration"] = datetime.timedelta(seconds=retention.max_age)
        with contextlib.suppress(AlreadyExists):
            publisher.create_topic(request=request)

    def publish(
        self, topic: str, values: Sequence[bytes], keys: Sequence[str | None] | None = None
    ) -> list[int]:
        publisher, _ = self._clients()
        futures = [
            publisher.publish(
                self._topic(topic), value, **({"key": keys[i]} if keys and keys[i] else {})
            )
            for i, value in enumerate(values)
        ]
        return [int(f.result(timeout=60)) for f in futures]

    def poll(
        self, topic: str, group: str, consumer: str, max_messages: int = 100, wait: float = 0.0
    ) -> list[Message]:
        from google.api_core.exceptions import AlreadyExists

        _, subscriber = self._clients()
        name = self._subscription(topic, group)
        if name not in self._created:
            with contextlib.suppress(AlreadyExists):
                subscriber.create_subscription(
                    request={
                        "name": name,
                        "topic": self._topic(topic),
                        "ack_deadline_seconds": max(10, min(600, int(self.lease))),
                        "retain_acked_messages": True,
                    }
                )
            self._created.add(name)
        reply = subscriber.pull(
            request={"subscription": name, "max_messages": max_messages}, timeout=max(wait, 1)
        )
        found = []
        for received in reply.received_messages:
            m = received.message
            offset = int(m.message_id)
            self._ack_ids[(topic, group, offset)] = received.ack_id
            if len(self._ack_ids) > MAX_IN_FLIGHT:  # the oldest leases ran out long ago
                del self._ack_ids[next(iter(self._ack_ids))]
            found.append(
                Message(
                    topic,
                    offset,
                    bytes(m.data),
                    m.publish_time.timestamp(),
                    m.attributes.get("key"),
                    max(1, received.delivery_attempt),
                )
            )
        return found

    def commit(self, topic: str, group: str, offsets: Sequence[int]) -> None:
        _, subscriber = self._clients()
        ack_ids = [
            a for o in offsets if (a := self._ack_ids.pop((topic, group, o), None)) is not None
        ]
        if ack_ids:
            subscriber.acknowledge(
                request={"subscription": self._subscription(topic, group), "ack_ids": ack_ids}
            )

    def seek(
        self, topic: str, group: str, *, offset: int | None = None, time: float | None = None
    ) -> None:
        if time is None:
            raise InvalidInput("Pub/Sub has no offsets: seek by time", field="offset")
        _, subscriber = self._clients()
        at = datetime.datetime.fromtimestamp(time, datetime.UTC)
        subscriber.seek(request={"subscription": self._subscription(topic, group), "time": at})

    def drop(self, topic: str) -> None:
        publisher, _ = self._clients()
        publisher.delete_topic(request={"topic": self._topic(topic)})

    def close(self) -> None:
        if self._subscriber is not None:
            self._subscriber.close()
