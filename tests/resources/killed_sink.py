"""A sink that stops on its second file, waiting to be killed: with ``before`` while the file
is being written (nothing of it landed), with ``after`` once it landed and before the batch's
offsets are committed. ``python killed_sink.py MODE DB ARTIFACTS TOPICS_URL TOPIC TABLE``."""

from __future__ import annotations

import sys
import threading
from typing import Any

from usina.client import Client
from usina.topics.sink import TableSink

mode, db, artifacts, topics_url, topic, table = sys.argv[1:7]
client = Client(db, artifacts, topics=topics_url)
forever = threading.Event()
files = 0
write = client.artifacts.write


def stopping_write(key: str, data: Any) -> None:
    global files
    files += 1
    if files == 2 and mode == "before":
        print("stopped while writing", flush=True)
        forever.wait()
    write(key, data)
    if files == 2 and mode == "after":
        print("stopped after writing", flush=True)
        forever.wait()


client.artifacts.write = stopping_write  # type: ignore[method-assign]
TableSink(client.topics, client.artifacts, topic, table, max_messages=100, wait=0.5).run()
