"""``usina topics``: create, list, show and delete topics; publish records, consume them in a
group, seek a group, and sink a topic into a table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from usina.cli.context import client
from usina.cli.output import console, print_json, when
from usina.errors import InvalidInput

if TYPE_CHECKING:
    from usina.topics import Message, Topic, TopicColumn

app = typer.Typer(
    help="Topics: records published in real time, consumed in groups.", no_args_is_help=True
)

_GROUP = typer.Option(..., "--group", "-g", help="The consumer group.")


def parse_column(text: str) -> TopicColumn:
    """``NAME:DTYPE`` (``user_id:int64``), ``?`` at the end for a nullable field."""
    from usina.topics import TopicColumn

    name, sep, dtype = text.partition(":")
    if not sep or not name or not dtype:
        raise InvalidInput(
            f"--column {text!r} is not NAME:DTYPE (for example user_id:int64 or country:string?)",
            field="columns",
        )
    nullable = dtype.endswith("?")
    return TopicColumn(name, dtype.rstrip("?"), nullable)


def _topic_json(topic: Topic) -> dict[str, Any]:
    return {
        "name": topic.name,
        "columns": [c.__dict__ for c in topic.columns],
        "retention": topic.retention.__dict__,
        "description": topic.description,
        "created_at": topic.created_at,
        "created_by": topic.created_by,
    }


def _schema(topic: Topic) -> str:
    return ", ".join(f"{c.name}:{c.dtype}{'?' if c.nullable else ''}" for c in topic.columns) or (
        "(any JSON object)"
    )


def _retention(topic: Topic) -> str:
    parts = []
    if topic.retention.max_age is not None:
        parts.append(f"{topic.retention.max_age:g}s")
    if topic.retention.max_messages is not None:
        parts.append(f"{topic.retention.max_messages:,} messages")
    return ", ".join(parts) or "all"


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The topic's name (letters, digits, '_', '-')."),
    column: list[str] = typer.Option(
        [],
        "--column",
        "-c",
        help="A field, NAME:DTYPE (int64, double, string, bool; '?' "
        "at the end: nullable). Repeatable; none: any JSON object.",
    ),
    max_age: Optional[float] = typer.Option(  # noqa: UP045
        None, "--max-age", help="Seconds a message is kept (default: no limit)."
    ),
    max_messages: Optional[int] = typer.Option(  # noqa: UP045
        None, "--max-messages", help="Newest messages kept (default: no limit)."
    ),
    description: str = typer.Option("", "--description", help="What the topic carries."),
    json: bool = typer.Option(False, "--json", help="Print the topic as JSON."),
) -> None:
    """Create a topic with the schema its records follow and its retention."""
    from usina.topics import Retention, TopicSpec

    columns = tuple(parse_column(c) for c in column)
    topic = client().topics.create(
        TopicSpec(name, columns, Retention(max_age, max_messages), description)
    )
    if json:
        print_json(_topic_json(topic))
        return
    console.print(f"topic {topic.name}: {_schema(topic)}; keeps {_retention(topic)}")


@app.command("list")
def list_topics(
    limit: int = typer.Option(100, "--limit", "-n", min=1, max=10_000, help="Most shown."),
    json: bool = typer.Option(False, "--json", help="Print the topics as JSON."),
) -> None:
    """Topics, by name."""
    from rich.table import Table

    found = client().topics.list(limit=limit)
    if json:
        print_json([_topic_json(t) for t in found])
        return
    if not found:
        console.print("No topics. Create one with 'usina topics create NAME --column F:int64'.")
        return
    table = Table("name", "schema", "keeps", "created", "by")
    for t in found:
        table.add_row(t.name, _schema(t), _retention(t), when(t.created_at), t.created_by)
    console.print(table)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="The topic's name."),
    json: bool = typer.Option(False, "--json", help="Print the topic as JSON."),
) -> None:
    """One topic: its schema and retention."""
    topic = client().topics.get(name)
    if json:
        print_json(_topic_json(topic))
        return
    console.print(f"topic {topic.name}: {_schema(topic)}", soft_wrap=True)
    console.print(
        f"keeps {_retention(topic)}; created {when(topic.created_at)} by {topic.created_by}"
    )
    if topic.description:
        console.print(topic.description)


@app.command("delete")
def delete(
    name: str = typer.Argument(..., help="The topic's name."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    json: bool = typer.Option(False, "--json", help="Print what was deleted as JSON."),
) -> None:
    """Delete a topic and every message of it."""
    if not yes and not typer.confirm(f"Delete topic {name} and all its messages?"):
        raise typer.Exit(1)
    client().topics.delete(name)
    if json:
        print_json({"deleted": name})
        return
    console.print(f"deleted topic {name}")


@app.command("publish")
def publish(
    name: str = typer.Argument(..., help="The topic's name."),
    source: str = typer.Argument(
        "-", help="A file of records (a JSON array, or JSON lines); '-' reads stdin."
    ),
    json: bool = typer.Option(False, "--json", help="Print the offsets as JSON."),
) -> None:
    """Publish records; all of them are appended, or, if one does not fit the topic's schema,
    none (the error names the record and the field)."""
    from usina.topics.entities import parse_records

    if source == "-":
        data = sys.stdin.buffer.read()
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidInput(f"{source} is not a file of records", field="source")
        data = path.read_bytes()
    offsets = client().topics.publish(name, parse_records(data))
    if json:
        print_json({"offsets": offsets})
        return
    console.print(
        f"published {len(offsets):,} record(s) to {name}: offsets {offsets[0]} to {offsets[-1]}"
    )


def _message_json(m: Message) -> dict[str, Any]:
    return {
        "offset": m.offset,
        "key": m.key,
        "value": m.json(),
        "published_at": m.published_at,
        "deliveries": m.deliveries,
    }


@app.command("consume")
def consume(
    name: str = typer.Argument(..., help="The topic's name."),
    group: str = _GROUP,
    consumer: str = typer.Option("cli", "--consumer", help="This member's name in the group."),
    max_messages: int = typer.Option(
        100, "--max", "-n", min=1, max=100_000, help="Most messages taken."
    ),
    wait: float = typer.Option(1.0, "--wait", min=0, max=30, help="Seconds to wait for one."),
    no_commit: bool = typer.Option(
        False, "--no-commit", help="Leave them uncommitted: they come again after the lease."
    ),
    json: bool = typer.Option(False, "--json", help="Print one JSON array, not JSON lines."),
) -> None:
    """Take the group's next messages and print them as JSON lines, then commit them."""
    import orjson

    topics = client().topics
    found = topics.poll(name, group, consumer, max_messages, wait)
    if json:
        print_json([_message_json(m) for m in found])
    else:
        for m in found:
            sys.stdout.write(orjson.dumps(_message_json(m)).decode() + "\n")
        sys.stdout.flush()
    if found and not no_commit:
        topics.commit(name, group, [m.offset for m in found])


def parse_time(text: str) -> float:
    """Seconds since the epoch, or an ISO 8601 time (UTC unless it says otherwise)."""
    import datetime as dt

    try:
        return float(text)
    except ValueError:
        pass
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"--time {text!r} is neither seconds since the epoch nor an ISO time "
            "(2026-12-01T10:00:00Z)",
            field="time",
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.timestamp()


@app.command("seek")
def seek(
    name: str = typer.Argument(..., help="The topic's name."),
    group: str = _GROUP,
    offset: Optional[int] = typer.Option(  # noqa: UP045
        None, "--offset", help="The offset the group's next poll starts at."
    ),
    time: Optional[str] = typer.Option(  # noqa: UP045
        None, "--time", help="Start at the first message published at or after this time."
    ),
    json: bool = typer.Option(False, "--json", help="Print where the group starts as JSON."),
) -> None:
    """Move a group to an offset or a time: its next polls replay from there."""
    at = None if time is None else parse_time(time)
    client().topics.seek(name, group, offset=offset, time=at)
    if json:
        print_json({"topic": name, "group": group, "offset": offset, "time": at})
        return
    where = f"offset {offset}" if offset is not None else f"time {time}"
    console.print(f"group {group} of {name} now starts at {where}")


@app.command("sink")
def sink(
    name: str = typer.Argument(..., help="The topic's name."),
    table: str = typer.Option(..., "--table", help="The table written under tables/."),
    once: bool = typer.Option(False, "--once", help="Stop when the topic has nothing more."),
    max_messages: int = typer.Option(
        10_000, "--max", min=1, max=100_000, help="Most records in one file."
    ),
) -> None:
    """Append the topic's records to a table (Parquet by day, each record once) until
    interrupted, or with --once until it caught up; query it with 'usina sql'."""
    import threading

    from usina.topics.sink import TableSink

    c = client()
    stop = threading.Event()
    runner = TableSink(c.topics, c.artifacts, name, table, max_messages=max_messages)
    try:
        written = runner.run(stop, once=once)
    except KeyboardInterrupt:
        console.print(f"stopped; {table} holds offsets up to {runner.written_to()}")
        return
    console.print(f"wrote {written:,} record(s) of {name} to table {table}")
