"""A separate process that appends audit records, for the concurrency test.

    python audit_worker.py DB_URL NAME BATCHES

Waits for a line on stdin (so every worker starts appending at once), then appends BATCHES
batches of 1 to 8 records as actor NAME, their request ids numbered in order (NAME-0, NAME-1...).
Prints how many records it appended and when its first append started and its last one ended
(``time.monotonic``, one clock for every process of the machine).
"""

from __future__ import annotations

import random
import sys
import time

from usina.audit import AuditEvent, SqlAuditStore
from usina.store import Database


def main() -> None:
    db_url, name, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = SqlAuditStore(Database(db_url))
    store.db.migrate()
    rng = random.Random(name)
    print("ready", flush=True)
    sys.stdin.readline()
    n = 0
    start = time.monotonic()
    for _ in range(batches):
        events = []
        for _ in range(rng.randint(1, 8)):
            events.append(
                AuditEvent(name, "usina.runs.write", f"runs/{n}", "allow", 201, f"{name}-{n}")
            )
            n += 1
        store.append(events)
    print(n, start, time.monotonic(), flush=True)
    store.db.dispose()


if __name__ == "__main__":
    main()
