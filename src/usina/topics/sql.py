"""Topics in the metadata database, their messages in the installation's topic log."""

from __future__ import annotations

import builtins
import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.errors import Conflict, InvalidInput, NotFound
from usina.store import Database
from usina.store import schema as t
from usina.store.paging import check_page
from usina.topics.base import TopicLog, open_topic_log
from usina.topics.entities import (
    Message,
    Retention,
    Topic,
    TopicColumn,
    TopicSpec,
    check_group,
    check_offsets,
    check_poll,
    check_records,
    check_seek,
    check_spec,
    check_topic_name,
)


def default_topics_url(db_url: str, artifacts: Any = None) -> str | None:
    """Where the embedded log goes when no topics URL is set: ``topics.db`` beside a SQLite
    metadata database, else beside a local artifact folder (both are the usina home by
    default); ``None`` when neither is local."""
    if db_url.startswith("sqlite"):
        path = db_url.partition("://")[2].lstrip("/")
        if not path or path == ":memory:":
            return "sqlite://"
        absolute = db_url.partition("://")[2][1:]
        return f"sqlite:///{Path(absolute).parent / 'topics.db'}"
    root = getattr(artifacts, "root", None)
    if isinstance(root, Path):
        return f"sqlite:///{root.absolute().parent / 'topics.db'}"
    return None


def topic_from_row(row: Any) -> Topic:
    return Topic(
        name=row.name,
        columns=tuple(TopicColumn(**c) for c in json.loads(row.columns)),
        retention=Retention(
            row.max_age, None if row.max_messages is None else int(row.max_messages)
        ),
        description=row.description,
        created_at=row.created_at,
        created_by=row.created_by,
    )


class SqlTopicStore:
    """Topics on the metadata database and a topic log (``usina.topics.base.TopicStore``).

    ``log`` is a log already open (a server shares one); otherwise ``topics_url`` names one,
    opened on first use, by default beside the database (see :func:`default_topics_url`).
    """

    def __init__(
        self,
        db: Database,
        actor: str = "local",
        artifacts: Any = None,
        topics_url: str | None = None,
        log: TopicLog | None = None,
        keys: Any = None,
    ) -> None:
        self.db = db
        self.keys = keys
        self.actor = actor
        self.topics_url = topics_url or default_topics_url(db.url, artifacts)
        self._log = log
        self._owns_log = log is None
        self._configured: set[str] = set()
        self._lock = threading.Lock()

    @property
    def log(self) -> TopicLog:
        with self._lock:
            if self._log is None:
                if self.topics_url is None:
                    raise InvalidInput(
                        "no topic log is set for this installation; set USINA_TOPICS_URL "
                        "(sqlite:///path/topics.db, redis://, nats://)",
                        field="topics_url",
                    )
                self._log = open_topic_log(self.topics_url, self.keys)
            return self._log

    def create(self, spec: TopicSpec) -> Topic:
        spec = check_spec(spec)

        def tx(conn: Connection) -> Topic:
            if conn.execute(sa.select(t.topics.c.name).where(t.topics.c.name == spec.name)).first():
                raise Conflict(f"topic {spec.name!r} already exists", field="name")
            conn.execute(
                t.topics.insert().values(
                    name=spec.name,
                    columns=json.dumps([c.__dict__ for c in spec.columns]),
                    max_age=spec.retention.max_age,
                    max_messages=spec.retention.max_messages,
                    description=spec.description,
                    created_at=time.time(),
                    created_by=self.actor,
                )
            )
            return self._load(conn, spec.name)

        created = self.db.write(tx)
        self.log.configure(created.name, created.retention)
        self._configured.add(created.name)
        return created

    def get(self, name: str) -> Topic:
        check_topic_name(name)
        with self.db.read() as conn:
            return self._load(conn, name)

    def list(self, *, limit: int = 100, offset: int = 0) -> builtins.list[Topic]:
        check_page(limit, offset)
        query = sa.select(t.topics).order_by(t.topics.c.name).limit(limit).offset(offset)
        with self.db.read() as conn:
            return [topic_from_row(r) for r in conn.execute(query)]

    def delete(self, name: str) -> None:
        check_topic_name(name)

        def tx(conn: Connection) -> None:
            self._load(conn, name)
            conn.execute(t.topics.delete().where(t.topics.c.name == name))

        self.db.write(tx)
        self._configured.discard(name)
        self.log.drop(name)

    def publish(self, name: str, records: Sequence[dict[str, Any]]) -> builtins.list[int]:
        topic = self.get(name)
        values = check_records(topic.columns, records)
        if name not in self._configured:
            self.log.configure(name, topic.retention)
            self._configured.add(name)
        return self.log.publish(name, values)

    def poll(
        self, name: str, group: str, consumer: str, max_messages: int = 100, wait: float = 0.0
    ) -> builtins.list[Message]:
        check_group(group)
        check_group(consumer, "consumer")
        check_poll(max_messages, wait)
        self.get(name)
        return self.log.poll(name, group, consumer, max_messages, wait)

    def commit(self, name: str, group: str, offsets: Sequence[int]) -> None:
        check_group(group)
        found = check_offsets(offsets)
        self.get(name)
        self.log.commit(name, group, found)

    def seek(
        self, name: str, group: str, *, offset: int | None = None, time: float | None = None
    ) -> None:
        check_group(group)
        check_seek(offset, time)
        self.get(name)
        self.log.seek(name, group, offset=offset, time=time)

    def close(self) -> None:
        if self._owns_log and self._log is not None:
            self._log.close()
            self._log = None

    @staticmethod
    def _load(conn: Connection, name: str) -> Topic:
        row = conn.execute(sa.select(t.topics).where(t.topics.c.name == name)).first()
        if row is None:
            raise NotFound(f"no topic {name!r}; 'usina topics list' lists them", field="name")
        return topic_from_row(row)
