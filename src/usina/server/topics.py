"""Routes of topics: ``POST/GET /api/v1/topics``, ``GET/DELETE /api/v1/topics/{name}``, and
the verbs of a topic's messages: ``:publish`` (a JSON array or JSON lines of records, checked
against the topic's schema, answered once the log holds them durably), and ``:poll``,
``:commit`` and ``:seek`` for consumers that reach the log through the server."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from usina.errors import InvalidInput
from usina.server import schemas as s
from usina.server.deps import MAX_PAGE, actor, backends, next_offset
from usina.topics.base import TopicLog, open_topic_log
from usina.topics.entities import (
    Message,
    Retention,
    Topic,
    TopicColumn,
    TopicSpec,
    parse_records,
)
from usina.topics.sql import SqlTopicStore

router = APIRouter(prefix="/api/v1", tags=["topics"])

_NAME = Path(pattern="^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$", description="The topic's name.")
# The largest publish body read; a bigger one is refused before it is read.
MAX_PUBLISH_BYTES = 64 * 2**20


class SharedTopicLog:
    """The server's one topic log, opened on first use and closed when the server stops."""

    def __init__(self, url: str | None, keys: Any = None) -> None:
        self.url = url
        self.keys = keys
        self._log: TopicLog | None = None
        self._lock = threading.Lock()

    def get(self) -> TopicLog:
        with self._lock:
            if self._log is None:
                if self.url is None:
                    raise InvalidInput(
                        "the server has no topic log; start it with USINA_TOPICS_URL set",
                        field="topics_url",
                    )
                self._log = open_topic_log(self.url, self.keys)
            return self._log

    def close(self) -> None:
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None


class ColumnBody(s.Strict):
    name: str = Field(max_length=128)
    dtype: str = Field(description="int64, double, string or bool.", max_length=16)
    nullable: bool = Field(False, description="Whether the field may be null or absent.")


class RetentionBody(s.Strict):
    max_age: float | None = Field(None, description="Seconds a message is kept.", gt=0)
    max_messages: int | None = Field(None, description="Newest messages kept.", ge=1, le=2**62)


class TopicIn(s.Strict):
    name: str = Field(max_length=128)
    columns: list[ColumnBody] = Field(default_factory=list, max_length=1000)
    retention: RetentionBody = Field(
        default_factory=lambda: RetentionBody(max_age=None, max_messages=None)
    )
    description: str = Field("", max_length=4000)


class TopicOut(BaseModel):
    name: str
    columns: list[ColumnBody]
    retention: RetentionBody
    description: str
    created_at: float
    created_by: str


class PublishOut(BaseModel):
    offsets: list[int] = Field(description="The records' offsets, in the order sent.")


class PollIn(s.Strict):
    group: str = Field(max_length=128)
    consumer: str = Field(max_length=128)
    max_messages: int = Field(100, ge=1, le=100_000)
    wait: float = Field(0.0, ge=0, le=30, description="Seconds to wait for a first message.")


class MessageOut(BaseModel):
    topic: str
    offset: int
    key: str | None
    value: Any = Field(description="The record, as published.")
    published_at: float
    deliveries: int = Field(description="2 or more: delivered again after a lease expired.")


class PollOut(BaseModel):
    messages: list[MessageOut]


class CommitIn(s.Strict):
    group: str = Field(max_length=128)
    offsets: list[int] = Field(max_length=100_000)


class SeekIn(s.Strict):
    group: str = Field(max_length=128)
    offset: int | None = Field(None, ge=0, le=2**63 - 1)
    time: float | None = Field(None, ge=0, description="Seconds since the epoch.")


def topic_out(topic: Topic) -> TopicOut:
    return TopicOut(
        name=topic.name,
        columns=[ColumnBody(**c.__dict__) for c in topic.columns],
        retention=RetentionBody(**topic.retention.__dict__),
        description=topic.description,
        created_at=topic.created_at,
        created_by=topic.created_by,
    )


def message_out(message: Message) -> MessageOut:
    return MessageOut(
        topic=message.topic,
        offset=message.offset,
        key=message.key,
        value=message.json(),
        published_at=message.published_at,
        deliveries=message.deliveries,
    )


def _store(request: Request, who: str = "local") -> SqlTopicStore:
    shared: SharedTopicLog = request.app.state.topic_log
    return SqlTopicStore(backends(request).db, who, log=shared.get())


@router.post("/topics", response_model=TopicOut, status_code=201)
def create_topic(request: Request, body: TopicIn, who: str = Depends(actor)) -> TopicOut:
    """Create a topic: the schema its records follow and its retention."""
    spec = TopicSpec(
        body.name,
        tuple(TopicColumn(**c.model_dump()) for c in body.columns),
        Retention(**body.retention.model_dump()),
        body.description,
    )
    return topic_out(_store(request, who).create(spec))


@router.get("/topics", response_model=s.Page[TopicOut])
def list_topics(
    request: Request,
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[TopicOut]:
    """Topics, by name."""
    items = [topic_out(t) for t in _store(request).list(limit=limit, offset=offset)]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.get("/topics/{name}", response_model=TopicOut)
def get_topic(request: Request, name: str = _NAME) -> TopicOut:
    """One topic."""
    return topic_out(_store(request).get(name))


@router.delete("/topics/{name}", status_code=204)
def delete_topic(request: Request, name: str = _NAME) -> None:
    """Delete a topic and every message of it."""
    _store(request).delete(name)


@router.post("/topics/{name}:publish", response_model=PublishOut)
async def publish(request: Request, name: str = _NAME) -> PublishOut:
    """Append records (a JSON array, or JSON lines) to a topic once every one of them fits its
    schema; a bad record is answered 400 naming its index and field, and nothing of the
    request is stored. The answer comes once the log holds the records durably."""
    size = request.headers.get("content-length")
    if size is not None and size.isdigit() and int(size) > MAX_PUBLISH_BYTES:
        raise InvalidInput(
            f"the body is {size} bytes; send at most {MAX_PUBLISH_BYTES} in one publish",
            field="records",
        )
    body = await request.body()
    if len(body) > MAX_PUBLISH_BYTES:
        raise InvalidInput(
            f"send at most {MAX_PUBLISH_BYTES} bytes in one publish", field="records"
        )
    records = parse_records(body)
    offsets = await run_in_threadpool(_store(request).publish, name, records)
    return PublishOut(offsets=offsets)


@router.post("/topics/{name}:poll", response_model=PollOut)
def poll(request: Request, body: PollIn, name: str = _NAME) -> PollOut:
    """Lease up to ``max_messages`` messages to a consumer of a group (what it does not commit
    within the lease goes to the next member that polls)."""
    found = _store(request).poll(name, body.group, body.consumer, body.max_messages, body.wait)
    return PollOut(messages=[message_out(m) for m in found])


@router.post("/topics/{name}:commit", status_code=204)
def commit(request: Request, body: CommitIn, name: str = _NAME) -> None:
    """Mark offsets processed by a group."""
    _store(request).commit(name, body.group, body.offsets)


@router.post("/topics/{name}:seek", status_code=204)
def seek(request: Request, body: SeekIn, name: str = _NAME) -> None:
    """Move a group to an offset or a time; its next polls replay from there."""
    _store(request).seek(name, body.group, offset=body.offset, time=body.time)
