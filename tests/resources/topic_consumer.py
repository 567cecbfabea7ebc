"""A member of a consumer group that polls messages and then never commits them, waiting to be
killed: ``python topic_consumer.py LOG_URL TOPIC GROUP COUNT``. It prints the offsets it
holds, as one JSON line, once it holds ``COUNT``."""

from __future__ import annotations

import json
import sys
import threading

from usina.topics import open_topic_log

url, topic, group, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
log = open_topic_log(url)
held: list[int] = []
while len(held) < count:
    held += [m.offset for m in log.poll(topic, group, "doomed", count - len(held), wait=0.5)]
print(json.dumps(held), flush=True)
threading.Event().wait()
