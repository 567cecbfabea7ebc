"""Topics kept by a usina server, through its REST API: the same protocol as
``SqlTopicStore`` (which the server runs), the same checks before anything is sent."""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from typing import Any

from usina.connection import ServerConnection
from usina.store.paging import check_page
from usina.topics.entities import (
    Message,
    Retention,
    Topic,
    TopicColumn,
    TopicSpec,
    check_group,
    check_offsets,
    check_poll,
    check_seek,
    check_spec,
    check_topic_name,
)

PAGE = 1000


def topic_from_json(d: dict[str, Any]) -> Topic:
    return Topic(
        name=d["name"],
        columns=tuple(TopicColumn(**c) for c in d["columns"]),
        retention=Retention(**d["retention"]),
        description=d["description"],
        created_at=d["created_at"],
        created_by=d["created_by"],
    )


def message_from_json(d: dict[str, Any]) -> Message:
    value = json.dumps(d["value"], separators=(",", ":")).encode()
    return Message(d["topic"], d["offset"], value, d["published_at"], d.get("key"), d["deliveries"])


def spec_to_json(spec: TopicSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "columns": [c.__dict__ for c in spec.columns],
        "retention": spec.retention.__dict__,
        "description": spec.description,
    }


class HttpTopicStore:
    """Topics on the server ``server`` talks to (``usina.topics.base.TopicStore``)."""

    def __init__(self, server: ServerConnection) -> None:
        self.server = server

    def create(self, spec: TopicSpec) -> Topic:
        spec = check_spec(spec)
        return topic_from_json(self.server.call("POST", "/topics", json=spec_to_json(spec)))

    def get(self, name: str) -> Topic:
        check_topic_name(name)
        return topic_from_json(self.server.call("GET", f"/topics/{name}"))

    def list(self, *, limit: int = 100, offset: int = 0) -> builtins.list[Topic]:
        check_page(limit, offset)
        found: builtins.list[Topic] = []
        while len(found) < limit:
            want = min(PAGE, limit - len(found))
            page = self.server.call("GET", "/topics", params={"limit": want, "offset": offset})
            found.extend(topic_from_json(d) for d in page["items"])
            if page["next_offset"] is None:
                break
            offset = page["next_offset"]
        return found

    def delete(self, name: str) -> None:
        check_topic_name(name)
        self.server.call("DELETE", f"/topics/{name}")

    def publish(self, name: str, records: Sequence[dict[str, Any]]) -> builtins.list[int]:
        check_topic_name(name)
        reply = self.server.call("POST", f"/topics/{name}:publish", json=list(records))
        offsets: builtins.list[int] = reply["offsets"]
        return offsets

    def poll(
        self, name: str, group: str, consumer: str, max_messages: int = 100, wait: float = 0.0
    ) -> builtins.list[Message]:
        check_topic_name(name)
        check_group(group)
        check_group(consumer, "consumer")
        check_poll(max_messages, wait)
        body = {"group": group, "consumer": consumer, "max_messages": max_messages, "wait": wait}
        reply = self.server.call("POST", f"/topics/{name}:poll", json=body)
        return [message_from_json(m) for m in reply["messages"]]

    def commit(self, name: str, group: str, offsets: Sequence[int]) -> None:
        check_topic_name(name)
        check_group(group)
        found = check_offsets(offsets)
        self.server.call("POST", f"/topics/{name}:commit", json={"group": group, "offsets": found})

    def seek(
        self, name: str, group: str, *, offset: int | None = None, time: float | None = None
    ) -> None:
        check_topic_name(name)
        check_group(group)
        check_seek(offset, time)
        body = {"group": group, "offset": offset, "time": time}
        self.server.call("POST", f"/topics/{name}:seek", json=body)
