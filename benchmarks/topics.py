"""Topic log throughput: publish and consume small events on each backend, side by side.

For each backend (the embedded SQLite log, Redis Streams, NATS JetStream on this machine), one
process publishes ``--events`` events of about 100 bytes through ``TopicLog.publish`` in batches
of ``--batch``, each batch acknowledged (durable, as the backend defines it) before the next is
sent; then one consumer of a fresh group polls batches of ``--batch`` and commits each before the
next poll, until it has every event. Each side reports events/s and its ratio to the goal of
50,000 events/s published; the embedded log's durability is an fsync of its WAL per batch
(``synchronous=FULL``), Redis here keeps nothing on disk (``appendonly no``, no ``save``), and
a NATS JetStream ack means the stream's file holds the message (written, synced by the server
on its own interval).

    python benchmarks/topics.py             # 1,000,000 events per backend
    python benchmarks/topics.py --quick     # 100,000 events per backend
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

GOAL = 50_000.0
URLS = {
    "embedded": "sqlite:///{tmp}/topics.db",
    "redis": "redis://127.0.0.1:6379/0",
    "nats": "nats://127.0.0.1:4222",
}


def event(i: int) -> bytes:
    """About 100 bytes of JSON, as a click or a payment would be."""
    return json.dumps(
        {
            "user_id": i % 100_000,
            "event": "page_view",
            "page": f"/products/{i % 997}",
            "session": f"{i * 2654435761 % 2**32:08x}",
            "ms": 12.5,
        }
    ).encode()


def measure(url: str, events: int, batch: int) -> dict[str, Any]:
    from usina.topics import open_topic_log

    log = open_topic_log(url)
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    payloads = [event(i) for i in range(batch)]
    size = sum(len(p) for p in payloads) / len(payloads)
    try:
        log.publish(topic, payloads[:1])  # connection and storage set up, outside the timing
        log.commit(topic, "warm", [m.offset for m in log.poll(topic, "warm", "w", 1)])
        started = time.perf_counter()
        for _ in range(events // batch):
            log.publish(topic, payloads)
        published = time.perf_counter() - started

        started = time.perf_counter()
        got = 0
        log.seek(topic, "bench", offset=0)
        while got < events + 1:
            messages = log.poll(topic, "bench", "c1", batch, wait=1.0)
            if not messages:
                break
            log.commit(topic, "bench", [m.offset for m in messages])
            got += len(messages)
        consumed = time.perf_counter() - started
    finally:
        log.drop(topic)
        log.close()
    return {
        "events": events,
        "bytes_per_event": round(size),
        "publish_per_s": events / published,
        "consume_per_s": got / consumed,
        "consumed": got,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="100,000 events per backend")
    parser.add_argument("--backends", default="embedded,redis,nats")
    args = parser.parse_args()
    events = 100_000 if args.quick else args.events
    results = {}
    with tempfile.TemporaryDirectory(prefix="usina-topics-bench-") as tmp:
        for name in args.backends.split(","):
            url = URLS[name].format(tmp=Path(tmp))
            results[name] = measure(url, events, args.batch)
            r = results[name]
            print(
                f"{name:9s} publish {r['publish_per_s']:>10,.0f} events/s "
                f"({r['publish_per_s'] / GOAL:.2f}x the goal)   consume+commit "
                f"{r['consume_per_s']:>10,.0f} events/s   ({r['consumed']:,} of "
                f"{events + 1:,} consumed, {r['bytes_per_event']} bytes each)",
                flush=True,
            )
    if "embedded" in results:
        base = results["embedded"]
        for name, r in results.items():
            if name != "embedded":
                print(
                    f"embedded / {name}: publish {base['publish_per_s'] / r['publish_per_s']:.2f}"
                    f", consume {base['consume_per_s'] / r['consume_per_s']:.2f}"
                )


if __name__ == "__main__":
    main()
