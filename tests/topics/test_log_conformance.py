"""The topic log's contract on every backend: the embedded SQLite log, Redis Streams and NATS
JetStream, against the real servers of this machine; and a consumer killed with messages in
hand, whose messages another member of its group then receives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from resources.processes import StartedProcesses
from resources.waiting import wait_until
from usina.testing import check_topic_log
from usina.topics import Message, Retention, open_topic_log

CONSUMER = Path(__file__).parents[1] / "resources" / "topic_consumer.py"


def test_log_conformance(topics_url: str) -> None:
    check_topic_log(lambda: open_topic_log(topics_url))


def test_killed_consumer_messages_go_to_another_member(
    topics_url: str, processes: StartedProcesses
) -> None:
    log = open_topic_log(topics_url)
    topic = f"killed-{uuid.uuid4().hex[:10]}"
    try:
        offsets = log.publish(topic, [f'{{"n":{i}}}'.encode() for i in range(30)])
        # The doomed member takes the first ten in its group and dies before committing.
        doomed = processes.start(
            [sys.executable, str(CONSUMER), topics_url, topic, "workers", "10"],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert doomed.stdout is not None
        line = doomed.stdout.readline()
        assert line, "the consumer ended before polling"
        held = json.loads(line)
        assert held == offsets[:10]
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(30)

        # The survivor gets the twenty nobody held at once, then the dead member's ten once
        # their lease expired: every message once, none lost. It commits each batch as it gets
        # it, within the lease, as a consumer does: one commit of all thirty at the end would
        # come about a lease after the twenty were polled (the ten take that long to come
        # back), and a commit after the lease may be too late to keep a message from being
        # delivered again (docs/topics.md).
        got: list[Message] = []
        deadline = time.monotonic() + 30
        while len(got) < len(offsets) and time.monotonic() < deadline:
            batch = log.poll(topic, "workers", "survivor", len(offsets) - len(got), wait=0.2)
            log.commit(topic, "workers", [m.offset for m in batch])
            got += batch
        assert sorted(m.offset for m in got) == offsets
        redelivered = [m for m in got if m.offset in held]
        assert all(m.deliveries >= 2 for m in redelivered)
        assert all(m.deliveries == 1 for m in got if m.offset not in held)
        assert log.poll(topic, "workers", "survivor", 100, wait=0.3) == []
    finally:
        log.drop(topic)
        log.close()


def test_retention_by_age_drops_old_messages(topics_url: str) -> None:
    log = open_topic_log(topics_url)
    topic = f"aged-{uuid.uuid4().hex[:10]}"
    try:
        log.configure(topic, Retention(max_age=1.0))
        log.publish(topic, [b"old"])
        checks = iter(range(1000))

        def oldest_kept() -> bytes:
            # Publishing applies retention on the embedded log and Redis; NATS applies it itself.
            log.publish(topic, [b"new"])
            first = log.poll(topic, f"reader-{next(checks)}", "r", 1, wait=1.0)
            return first[0].value if first else b""

        wait_until(lambda: oldest_kept() == b"new", 20, "the message older than max_age to go")
    finally:
        log.drop(topic)
        log.close()
