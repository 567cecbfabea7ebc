"""What topics hold and return: messages, topics with their record schema and retention, and
the checks on what a caller gives."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from usina.errors import InvalidInput

# A topic name is also a NATS stream name and a Redis key part: no dots, spaces or wildcards.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,127}")
_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,127}")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
DTYPES = ("int64", "double", "string", "bool")
MAX_RECORDS = 100_000


@dataclass(frozen=True)
class Message:
    """One record of a topic as a consumer receives it.

    ``offset`` orders a topic's messages (it grows with each publish; backends may leave gaps);
    ``deliveries`` counts how many times the message was handed out in this group, 2 or more
    once a consumer's lease on it expired and another member claimed it.
    """

    topic: str
    offset: int
    value: bytes
    published_at: float
    key: str | None = None
    deliveries: int = 1

    def json(self) -> Any:
        """The value decoded as JSON (what the topic resource publishes)."""
        return json.loads(self.value)


@dataclass(frozen=True)
class Retention:
    """How much of a topic its log keeps: at most ``max_messages`` newest messages, none older
    than ``max_age`` seconds; ``None`` keeps everything."""

    max_age: float | None = None
    max_messages: int | None = None


@dataclass(frozen=True)
class TopicColumn:
    """One field of a topic's records: its name, type (int64, double, string, bool) and
    whether it may be null or absent."""

    name: str
    dtype: str
    nullable: bool = False


@dataclass(frozen=True)
class Topic:
    """A topic in the metadata database: its records' schema and its retention."""

    name: str
    columns: tuple[TopicColumn, ...]
    retention: Retention
    description: str
    created_at: float
    created_by: str


@dataclass(frozen=True)
class TopicSpec:
    """What creating a topic takes."""

    name: str
    columns: tuple[TopicColumn, ...] = field(default_factory=tuple)
    retention: Retention = field(default_factory=Retention)
    description: str = ""


def check_topic_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput(
            f"topic name {value!r} is not valid; use letters, digits, '_' and '-' (starting with "
            "a letter or digit, at most 128 characters)",
            field="name",
        )
    return value


def check_group(value: Any, name: str = "group") -> str:
    if not isinstance(value, str) or not _GROUP.fullmatch(value):
        raise InvalidInput(
            f"{name} {value!r} is not valid; use letters, digits, '_' and '-' (at most 128)",
            field=name,
        )
    return value


def check_retention(value: Retention) -> Retention:
    age, count = value.max_age, value.max_messages
    if age is not None and (
        isinstance(age, bool) or not isinstance(age, int | float) or not math.isfinite(age)
    ):
        raise InvalidInput("max_age must be a number of seconds", field="max_age")
    if age is not None and age <= 0:
        raise InvalidInput("max_age must be more than 0 seconds (or absent)", field="max_age")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise InvalidInput("max_messages must be 1 or more (or absent)", field="max_messages")
    return Retention(None if age is None else float(age), count)


def check_columns(columns: Any) -> tuple[TopicColumn, ...]:
    """A topic's schema: distinct column names, each of a known type."""
    if not isinstance(columns, list | tuple) or len(columns) > 1000:
        raise InvalidInput("columns must be a list of at most 1000 columns", field="columns")
    seen: set[str] = set()
    found = []
    for i, column in enumerate(columns):
        if isinstance(column, dict):
            column = TopicColumn(
                column.get("name", ""), column.get("dtype", ""), column.get("nullable", False)
            )
        if not isinstance(column, TopicColumn) or not isinstance(column.name, str):
            raise InvalidInput(f"column {i} must have a name and a dtype", field="columns")
        if not _COLUMN.fullmatch(column.name) or column.name in seen:
            raise InvalidInput(
                f"column {i} name {column.name!r} is not valid or repeated; use a letter or "
                "'_', then letters, digits and '_'",
                field="columns",
            )
        if column.dtype not in DTYPES:
            raise InvalidInput(
                f"column {column.name!r} dtype {column.dtype!r} is not one of {', '.join(DTYPES)}",
                field="columns",
            )
        seen.add(column.name)
        found.append(TopicColumn(column.name, column.dtype, bool(column.nullable)))
    return tuple(found)


def check_spec(spec: TopicSpec) -> TopicSpec:
    check_topic_name(spec.name)
    if not isinstance(spec.description, str) or len(spec.description) > 4000:
        raise InvalidInput(
            "description must be text of at most 4000 characters", field="description"
        )
    return TopicSpec(
        spec.name, check_columns(spec.columns), check_retention(spec.retention), spec.description
    )


def _fits(dtype: str, value: Any) -> bool:
    if dtype == "int64":
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if dtype == "double":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if dtype == "string":
        return isinstance(value, str)
    return isinstance(value, bool)


def check_records(columns: tuple[TopicColumn, ...], records: Any) -> list[bytes]:
    """Every record checked against the schema, as the bytes the log stores; the first bad one
    is named by its index and field, and then nothing is to be stored."""
    if not isinstance(records, list | tuple) or not records:
        raise InvalidInput("records must be a non-empty list of JSON objects", field="records")
    if len(records) > MAX_RECORDS:
        raise InvalidInput(
            f"{len(records)} records in one publish; send at most {MAX_RECORDS}", field="records"
        )
    known = {c.name for c in columns}
    encoded = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidInput(f"record {i} is not a JSON object", field=f"records[{i}]")
        if columns:
            for column in columns:
                value = record.get(column.name)
                if value is None:
                    if not column.nullable:
                        raise InvalidInput(
                            f"record {i}: field {column.name!r} is missing or null (a "
                            f"{column.dtype} is required)",
                            field=f"records[{i}].{column.name}",
                        )
                elif not _fits(column.dtype, value):
                    raise InvalidInput(
                        f"record {i}: field {column.name!r} is {value!r}, not of type "
                        f"{column.dtype}",
                        field=f"records[{i}].{column.name}",
                    )
            extra = [k for k in record if k not in known]
            if extra:
                raise InvalidInput(
                    f"record {i}: field {extra[0]!r} is not in the topic's schema "
                    f"({', '.join(sorted(known))})",
                    field=f"records[{i}].{extra[0]}",
                )
        try:
            encoded.append(json.dumps(record, separators=(",", ":"), allow_nan=False).encode())
        except ValueError:
            raise InvalidInput(
                f"record {i} holds a value JSON cannot carry (NaN or infinity)",
                field=f"records[{i}]",
            ) from None
    return encoded


def check_seek(offset: Any, at: Any) -> None:
    if (offset is None) == (at is None):
        raise InvalidInput("seek takes an offset or a time, one of them", field="offset")
    if offset is not None and (
        isinstance(offset, bool) or not isinstance(offset, int) or offset < 0
    ):
        raise InvalidInput(f"offset {offset!r} is not an offset (0 or more)", field="offset")
    if at is not None and (isinstance(at, bool) or not isinstance(at, int | float) or at < 0):
        raise InvalidInput(f"time {at!r} is not seconds since the epoch", field="time")


def check_poll(max_messages: Any, wait: Any) -> None:
    if isinstance(max_messages, bool) or not isinstance(max_messages, int):
        raise InvalidInput("max_messages must be a whole number", field="max_messages")
    if not 1 <= max_messages <= MAX_RECORDS:
        raise InvalidInput(f"max_messages must be 1 to {MAX_RECORDS}", field="max_messages")
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= 30:
        raise InvalidInput("wait must be 0 to 30 seconds", field="wait")


def check_offsets(offsets: Any) -> list[int]:
    if not isinstance(offsets, list | tuple) or len(offsets) > MAX_RECORDS:
        raise InvalidInput(f"offsets must be a list of at most {MAX_RECORDS}", field="offsets")
    for o in offsets:
        if isinstance(o, bool) or not isinstance(o, int) or o < 0:
            raise InvalidInput(f"offset {o!r} is not an offset (0 or more)", field="offsets")
    return list(offsets)


def parse_records(body: bytes) -> list[Any]:
    """A JSON array, or JSON lines (one record a line); a bad line is named by its index."""
    text = body.strip()
    if not text:
        raise InvalidInput(
            "the body holds no records; send a JSON array or JSON lines", field="records"
        )
    if text.startswith(b"["):
        try:
            records = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"the body is not a JSON array: {exc}", field="records") from None
        if not isinstance(records, list):
            raise InvalidInput("the body is not a JSON array", field="records")
        return records
    found = []
    for i, line in enumerate(x for x in text.split(b"\n") if x.strip()):
        try:
            found.append(json.loads(line))
        except ValueError as exc:
            raise InvalidInput(f"record {i} is not JSON: {exc}", field=f"records[{i}]") from None
    return found
