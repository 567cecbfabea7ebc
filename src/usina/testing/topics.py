"""The contracts of topics, as functions any backend's tests call.

``check_topic_log(open_log)``: a log backend keeps order within a publish, leases different
messages to the members of a group, delivers again what was leased and not committed once the
lease runs out (at-least-once), replays from an offset or a time after a seek, keeps groups
apart, and applies retention. ``open_log`` must give logs with a short lease (a second or two:
``?lease=2`` in the URL), each call a new connection to the same backend.

``check_topic_store(make_client)``: topics as a resource, with records checked against the
topic's schema before anything is appended.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

from usina.errors import Conflict, InvalidInput, NotFound
from usina.testing.tracking import expect_error
from usina.topics.entities import Message, Retention, TopicColumn, TopicSpec


def poll_until(
    log: Any, topic: str, group: str, consumer: str, want: int, timeout: float = 20.0
) -> list[Message]:
    """Poll until ``want`` messages arrived or ``timeout`` passed; all that arrived."""
    found: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(found) < want and time.monotonic() < deadline:
        found += log.poll(topic, group, consumer, want - len(found), wait=0.2)
    return found


def _values(messages: list[Message]) -> list[bytes]:
    return [m.value for m in messages]


def check_topic_log(open_log: Callable[[], Any]) -> None:
    """Assert that logs from ``open_log()`` keep the ``TopicLog`` contract (module docstring)."""
    log, other = open_log(), open_log()
    topic = f"conf-{uuid.uuid4().hex[:12]}"
    small = f"{topic}-small"
    try:
        _check(log, other, topic, small)
    finally:
        for name in (topic, small):
            log.drop(name)
        log.close()
        other.close()


def _check(log: Any, other: Any, topic: str, small: str) -> None:
    log.configure(topic, Retention())
    values = [f'{{"n":{i}}}'.encode() for i in range(5)]
    offsets = log.publish(topic, values, ["k0", None, "k2", None, None])
    assert len(offsets) == 5 and offsets == sorted(set(offsets)), offsets

    # Ordering within a publish, keys, a first delivery.
    got = poll_until(log, topic, "g1", "a", 5)
    assert [m.offset for m in got] == offsets
    assert _values(got) == values
    assert [m.key for m in got[:3]] == ["k0", None, "k2"]
    assert all(m.deliveries == 1 and m.topic == topic for m in got)
    assert got[0].published_at <= got[-1].published_at
    assert abs(got[0].published_at - time.time()) < 60
    assert got[0].json() == {"n": 0}
    assert log.poll(topic, "g1", "a", 10) == [], "leased messages are not handed out twice"

    # At-least-once: what is not committed comes back once the lease runs out, to any member.
    log.commit(topic, "g1", offsets[:3])
    again = poll_until(other, topic, "g1", "b", 2)
    assert [m.offset for m in again] == offsets[3:], "uncommitted messages are delivered again"
    assert all(m.deliveries >= 2 for m in again)
    other.commit(topic, "g1", offsets[3:])
    other.commit(topic, "g1", offsets[3:])  # committing twice is harmless

    # A group of its own gets everything, from the start.
    assert _values(poll_until(other, topic, "g2", "x", 5)) == values

    # Two members of one group share new messages without duplication.
    more = [f'{{"n":{i}}}'.encode() for i in range(5, 25)]
    more_offsets = log.publish(topic, more)
    first = poll_until(log, topic, "g1", "a", 10)
    second = poll_until(other, topic, "g1", "b", 10)
    assert len(first) == 10 and len(second) == 10
    assert {m.offset for m in first}.isdisjoint({m.offset for m in second})
    assert sorted(_values(first) + _values(second), key=more.index) == more
    log.commit(topic, "g1", [m.offset for m in first])
    other.commit(topic, "g1", [m.offset for m in second])

    # Replay by offset, then by time.
    log.seek(topic, "g1", offset=more_offsets[15])
    assert _values(poll_until(log, topic, "g1", "a", 5)) == more[15:]
    log.commit(topic, "g1", more_offsets[15:])
    mark = time.time()
    while time.time() <= mark + 0.002:  # past the millisecond of the last publish
        time.sleep(0.001)
    mark = time.time()
    late = [b'{"n":"late-1"}', b'{"n":"late-2"}']
    log.publish(topic, late)
    log.seek(topic, "g1", time=mark)
    assert _values(poll_until(log, topic, "g1", "a", 2)) == late
    log.seek(topic, "g1", offset=offsets[0])
    assert len(poll_until(log, topic, "g1", "a", 27)) == 27, "a seek replays the whole log"
    assert log.poll(topic, "g1", "a", 10) == []

    # Retention: the newest max_messages are kept.
    log.configure(small, Retention(max_messages=3))
    kept = [f"{i}".encode() for i in range(10)]
    log.publish(small, kept[:6])
    log.publish(small, kept[6:])
    assert _values(poll_until(log, small, "fresh", "a", 3)) == kept[-3:]
    assert log.poll(small, "fresh", "a", 10, wait=0.2) == []


def _spec(name: str, **change: Any) -> TopicSpec:
    fields: dict[str, Any] = {
        "name": name,
        "columns": (
            TopicColumn("user_id", "int64"),
            TopicColumn("amount", "double"),
            TopicColumn("country", "string", nullable=True),
        ),
        "retention": Retention(max_age=86400.0),
        "description": "payments",
        **change,
    }
    return TopicSpec(**fields)


def check_topic_store(make_client: Callable[[], Any]) -> None:
    """Assert that ``make_client().topics`` (a fresh installation) keeps the topic store's
    contract: topics created, listed, checked and deleted; records checked against the schema
    with nothing appended when one is bad; consumed in groups, committed and replayed."""
    store = make_client().topics
    name = f"payments-{uuid.uuid4().hex[:8]}"
    created = store.create(_spec(name))
    try:
        _check_store(store, name, created)
    finally:
        with contextlib.suppress(NotFound):
            store.delete(name)


def _check_store(store: Any, name: str, created: Any) -> None:
    assert created.name == name and created.description == "payments"
    assert [c.name for c in created.columns] == ["user_id", "amount", "country"]
    assert created.retention == Retention(max_age=86400.0)
    assert store.get(name) == created
    assert name in [t.name for t in store.list()]
    expect_error(Conflict, lambda: store.create(_spec(name)), "name")
    expect_error(InvalidInput, lambda: store.create(_spec("bad name")), "name")
    bad_type = (TopicColumn("x", "decimal"),)
    expect_error(InvalidInput, lambda: store.create(_spec("t2", columns=bad_type)), "columns")
    expect_error(NotFound, lambda: store.get("absent-topic"), "name")

    records = [
        {"user_id": 1, "amount": 9.5, "country": "BR"},
        {"user_id": 2, "amount": 3, "country": None},
        {"user_id": 3, "amount": 1.25},
    ]
    offsets = store.publish(name, records)
    assert len(offsets) == 3 and offsets == sorted(offsets)

    bad = [{"user_id": 4, "amount": 1.0}, {"user_id": "five", "amount": 1.0}]
    error = expect_error(InvalidInput, lambda: store.publish(name, bad), "records[1].user_id")
    assert "record 1" in str(error)
    missing = [{"user_id": 4}]
    expect_error(InvalidInput, lambda: store.publish(name, missing), "records[0].amount")
    extra = [{"user_id": 4, "amount": 1.0, "note": "x"}]
    expect_error(InvalidInput, lambda: store.publish(name, extra), "records[0].note")
    expect_error(InvalidInput, lambda: store.publish(name, []), "records")
    expect_error(NotFound, lambda: store.publish("absent-topic", records), "name")

    got = store.poll(name, "etl", "w1", max_messages=10, wait=1.0)
    assert [m.json() for m in got] == records, "nothing of a refused publish was stored"
    assert [m.offset for m in got] == offsets
    store.commit(name, "etl", offsets[:2])
    assert store.poll(name, "etl", "w1", max_messages=10) == []
    store.seek(name, "etl", offset=offsets[1])
    assert [m.json() for m in store.poll(name, "etl", "w1", 10, wait=1.0)] == records[1:]
    expect_error(InvalidInput, lambda: store.seek(name, "etl"), "offset")
    expect_error(InvalidInput, lambda: store.poll(name, "bad group", "w1"), "group")
    expect_error(
        InvalidInput, lambda: store.poll(name, "etl", "w1", max_messages=0), "max_messages"
    )

    store.delete(name)
    expect_error(NotFound, lambda: store.get(name), "name")
    expect_error(NotFound, lambda: store.delete(name), "name")
