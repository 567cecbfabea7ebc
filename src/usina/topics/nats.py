"""Topics on NATS JetStream: one stream per topic (``USINA_<name>``, subject
``usina.topics.<name>``, file storage), one durable pull consumer per group.

nats-py is asyncio; this backend keeps the protocol synchronous by running one event loop on a
thread of its own, per instance, and waiting on each call's future (one call at a time runs
there, so what is in flight is bounded by the callers' threads).

``publish`` sends every record without waiting (``publish_async``), then waits for all their
acks: a JetStream ack means the stream stored the message. ``poll`` fetches from the group's
durable consumer, whose ack wait is the lease, so JetStream itself redelivers what a dead
member held. ``commit`` acks the messages this instance leased (a message leased by another
process can only be acked there) and flushes, so the acks reached the server when it returns.
An ack after the ack wait ran out still ends the message, but JetStream applies acks apart
from the fetches it answers: a message due for redelivery may still go to a fetch waiting then
or made right after the commit, this instance's own included, and that copy is handed out. A
commit after the lease is at-least-once, as on every backend.
``seek`` recreates the consumer with a start sequence or time. The consumer name is the
group; a poll's ``consumer`` argument names nothing in JetStream (the member is the
connection that fetched).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import threading
import time
from collections import OrderedDict
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from usina.topics.base import lease_of
from usina.topics.entities import Message, Retention

T = TypeVar("T")
# Leased messages kept to be acked by offset: those whose lease ran out twice over are dropped
# (JetStream has handed them to another member), and past this many the oldest are forgotten,
# counted in ``forgotten``.
MAX_IN_FLIGHT = 100_000
KEY_HEADER = "Usina-Key"


def stream_of(topic: str) -> str:
    return f"USINA_{topic}"


def subject_of(topic: str) -> str:
    return f"usina.topics.{topic}"


class NatsTopicLog:
    """Topics on NATS JetStream (``usina.topics.base.TopicLog``); ``nats://host:4222``."""

    def __init__(self, url: str, *, lease: float | None = None) -> None:
        self.url = url.split("?", 1)[0]
        self.lease = lease if lease is not None else lease_of(url)
        self.forgotten = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="nats")
        self._thread.start()
        self._nc: Any = None
        self._js: Any = None
        self._subs: dict[tuple[str, str], Any] = {}
        self._leased: OrderedDict[tuple[str, str, int], tuple[Any, float]] = OrderedDict()
        self._streams: set[str] = set()

    def _run(self, work: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    async def _connect(self) -> Any:
        if self._js is None:
            import nats

            self._nc = await nats.connect(self.url, connect_timeout=5, max_reconnect_attempts=3)
            self._js = self._nc.jetstream()
        return self._js

    async def _stream(self, topic: str, retention: Retention | None = None) -> None:
        if topic in self._streams and retention is None:
            return
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        js = await self._connect()
        explicit = retention is not None
        retention = retention or Retention()
        config = StreamConfig(
            name=stream_of(topic),
            subjects=[subject_of(topic)],
            storage=StorageType.FILE,
            max_msgs=retention.max_messages or -1,
            max_age=retention.max_age or 0,
        )
        try:
            await js.stream_info(stream_of(topic))
        except NotFoundError:
            await js.add_stream(config)
        else:
            if explicit:
                await js.update_stream(config)
        self._streams.add(topic)

    def configure(self, topic: str, retention: Retention) -> None:
        self._run(self._stream(topic, retention))

    def publish(
        self, topic: str, values: Sequence[bytes], keys: Sequence[str | None] | None = None
    ) -> list[int]:
        async def work() -> list[int]:
            await self._stream(topic)
            js = self._js
            futures = []
            for i, value in enumerate(values):
                key = keys[i] if keys is not None else None
                headers = {KEY_HEADER: key} if key is not None else None
                futures.append(await js.publish_async(subject_of(topic), value, headers=headers))
            acks = await asyncio.wait_for(asyncio.gather(*futures), 60)
            return [a.seq for a in acks]

        return self._run(work()) if values else []

    async def _subscription(self, topic: str, group: str) -> Any:
        sub = self._subs.get((topic, group))
        if sub is None:
            await self._consumer(topic, group, None)
            sub = await self._js.pull_subscribe_bind(durable=group, stream=stream_of(topic))
            self._subs[(topic, group)] = sub
        return sub

    async def _consumer(self, topic: str, group: str, start: dict[str, Any] | None) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        await self._stream(topic)
        js = self._js
        if start is None:
            try:
                await js.consumer_info(stream_of(topic), group)
                return
            except NotFoundError:
                pass
        policy = DeliverPolicy.ALL
        if start and "opt_start_seq" in start:
            policy = DeliverPolicy.BY_START_SEQUENCE
        elif start:
            policy = DeliverPolicy.BY_START_TIME
        await js.add_consumer(
            stream_of(topic),
            ConsumerConfig(
                durable_name=group,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.lease,
                deliver_policy=policy,
                max_ack_pending=-1,
                **(start or {}),
            ),
        )

    def poll(
        self, topic: str, group: str, consumer: str, max_messages: int = 100, wait: float = 0.0
    ) -> list[Message]:
        async def work() -> list[Message]:
            from nats.errors import TimeoutError as NatsTimeout

            sub = await self._subscription(topic, group)
            try:
                got = await sub.fetch(max_messages, timeout=max(wait, 0.1))
            except (TimeoutError, NatsTimeout):
                return []
            found = []
            now = time.monotonic()
            for msg in got:
                meta = msg.metadata
                offset = meta.sequence.stream
                self._leased[(topic, group, offset)] = (msg, now)
                key = (msg.headers or {}).get(KEY_HEADER)
                found.append(
                    Message(
                        topic,
                        offset,
                        msg.data,
                        meta.timestamp.timestamp(),
                        key,
                        meta.num_delivered,
                    )
                )
            while self._leased:
                _, (_, leased_at) = next(iter(self._leased.items()))
                if now - leased_at > 2 * self.lease:
                    self._leased.popitem(last=False)
                elif len(self._leased) > MAX_IN_FLIGHT:
                    self._leased.popitem(last=False)
                    self.forgotten += 1
                else:
                    break
            return found

        return self._run(work())

    def commit(self, topic: str, group: str, offsets: Sequence[int]) -> None:
        async def work() -> None:
            for offset in offsets:
                held = self._leased.pop((topic, group, offset), None)
                if held is not None:
                    await held[0].ack()
            await self._nc.flush()

        if offsets:
            self._run(work())

    def seek(
        self, topic: str, group: str, *, offset: int | None = None, time: float | None = None
    ) -> None:
        async def work() -> None:
            from nats.js.errors import NotFoundError

            await self._stream(topic)
            sub = self._subs.pop((topic, group), None)
            if sub is not None:
                await sub.unsubscribe()
            with contextlib.suppress(NotFoundError):
                await self._js.delete_consumer(stream_of(topic), group)
            if time is not None:
                at = datetime.datetime.fromtimestamp(time, datetime.UTC)
                start: dict[str, Any] = {"opt_start_time": at}
            else:
                start = {"opt_start_seq": max(offset or 0, 1)}
            await self._consumer(topic, group, start)
            for key in [k for k in self._leased if k[:2] == (topic, group)]:
                del self._leased[key]

        self._run(work())

    def drop(self, topic: str) -> None:
        async def work() -> None:
            from nats.js.errors import NotFoundError

            js = await self._connect()
            for key in [k for k in self._subs if k[0] == topic]:
                await self._subs.pop(key).unsubscribe()
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(stream_of(topic))
            self._streams.discard(topic)

        self._run(work())

    def close(self) -> None:
        async def work() -> None:
            if self._nc is not None:
                await self._nc.close()

        try:
            self._run(work(), timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
