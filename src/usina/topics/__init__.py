"""Topics: records published in real time and consumed in groups, on one log protocol with an
embedded SQLite log by default and Redis Streams, NATS JetStream or Pub/Sub as backends; the
topic resource (a schema per topic, HTTP ingest) and the sink into tables."""

from usina.topics.base import LOGS, TopicLog, TopicStore, open_topic_log
from usina.topics.entities import Message, Retention, Topic, TopicColumn, TopicSpec

__all__ = [
    "LOGS",
    "Message",
    "Retention",
    "Topic",
    "TopicColumn",
    "TopicLog",
    "TopicSpec",
    "TopicStore",
    "open_topic_log",
]
