"""Late labels: the ground truth of logged requests, joined to them by request id.

A label names its request by ``request_id`` (and ``row``, the row of a request that carried
several, 0 by default), or by the value of a key column the request's inputs carried
(``{"customer_id": 17, "label": 1}``: the latest logged row whose ``customer_id`` is 17). A
batch is all or nothing: every request it names must be in the endpoint's request log (checked
with one DuckDB query for the whole batch), or nothing is stored and the error names the
missing ones. The same row labelled twice keeps the later label; the answer counts the labels
replaced.

Example:
    >>> import usina
    >>> client = usina.Client("sqlite://", "memory://")
    >>> client.labels.ingest("credit", [{"request_id": "r1", "label": 1}])
    Traceback (most recent call last):
    ...
    usina.errors.InvalidInput: no request 'r1' in the request log of endpoint 'credit'; ...
"""

from __future__ import annotations

import builtins
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from usina.artifacts import ArtifactStore
from usina.errors import InvalidInput

MAX_BATCH = 100_000
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}")
_SHOWN = 5


@dataclass(frozen=True)
class Label:
    """The label of one row of a logged request."""

    endpoint: str
    request_id: str
    row: int
    label: Any
    time: float
    created_by: str


@dataclass(frozen=True)
class LabelReceipt:
    """What one ingest did: labels stored, and how many of them replaced an earlier label."""

    endpoint: str
    stored: int
    replaced: int


class LabelStore(Protocol):
    """Store labels of an endpoint's logged requests, and read them back."""

    def ingest(
        self, endpoint: str, labels: Iterable[Mapping[str, Any]], now: float | None = None
    ) -> LabelReceipt:
        """Check every label and the requests it names, then store them all (or none)."""
        ...

    def list(
        self, endpoint: str, *, since: float | None = None, limit: int = 1000, offset: int = 0
    ) -> builtins.list[Label]:
        """The endpoint's labels received at or after ``since``, oldest first."""
        ...


def check_endpoint(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"endpoint name {name!r} is not valid; use letters, digits and '._-' (at most 128)",
            field="endpoint",
        )
    return name


def check_label_value(value: Any, where: str) -> Any:
    """A label is a JSON scalar: a string, a number or a boolean."""
    if isinstance(value, bool | str):
        if isinstance(value, str) and len(value) > 1024:
            raise InvalidInput(f"{where}: the label is longer than 1024 characters", field="label")
        return value
    if isinstance(value, int | float) and math.isfinite(value):
        return value
    raise InvalidInput(
        f"{where}: label {value!r} is not a JSON scalar; give a string, a finite number or a "
        "boolean",
        field="label",
    )


@dataclass(frozen=True)
class _Item:
    request_id: str | None
    row: int
    key: tuple[str, str | int] | None  # (column, value)
    label: Any


def check_labels(labels: Iterable[Mapping[str, Any]]) -> builtins.list[_Item]:
    """Each label checked: a ``label`` and either ``request_id`` (with an optional ``row``) or
    exactly one key column."""
    if isinstance(labels, Mapping | str | bytes):
        raise InvalidInput("labels must be a list of objects", field="labels")
    items = []
    for i, entry in enumerate(labels):
        where = f"label {i}"
        if not isinstance(entry, Mapping):
            raise InvalidInput(f"{where} is not an object with request_id and label", "labels")
        if "label" not in entry:
            raise InvalidInput(f"{where} has no 'label'", field="label")
        value = check_label_value(entry["label"], where)
        others = [k for k in entry if k not in ("label", "request_id", "row")]
        row = entry.get("row", 0)
        if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < 2**31:
            raise InvalidInput(f"{where}: row {row!r} is not a whole number >= 0", field="row")
        if "request_id" in entry:
            rid = entry["request_id"]
            if others:
                raise InvalidInput(
                    f"{where} gives request_id and {others[0]!r}; name the request one way",
                    field="labels",
                )
            if not isinstance(rid, str) or not rid or len(rid) > 128:
                raise InvalidInput(
                    f"{where}: request_id {rid!r} is not a request id", field="request_id"
                )
            items.append(_Item(rid, row, None, value))
            continue
        if len(others) != 1 or "row" in entry:
            raise InvalidInput(
                f"{where} must give request_id, or exactly one key column the request carried "
                f"(got {sorted(entry)})",
                field="labels",
            )
        column = others[0]
        if not isinstance(column, str) or not _KEY.fullmatch(column):
            raise InvalidInput(f"{where}: {column!r} is not a column name", field="labels")
        key = entry[column]
        if isinstance(key, bool) or not isinstance(key, str | int) or isinstance(key, float):
            raise InvalidInput(
                f"{where}: key {column}={key!r} must be a string or a whole number", field=column
            )
        items.append(_Item(None, 0, (column, key), value))
    if len(items) > MAX_BATCH:
        raise InvalidInput(
            f"{len(items)} labels in one batch; send at most {MAX_BATCH} at a time",
            field="labels",
        )
    return items


def resolve(
    artifacts: ArtifactStore, endpoint: str, items: builtins.list[_Item]
) -> builtins.list[tuple[str, int, Any]]:
    """``(request_id, row, label)`` of each item, checked against the endpoint's request log
    in one DuckDB query per kind of name (ids, and each key column)."""
    import pyarrow as pa

    from usina.monitoring.logwindow import connect

    conn = connect(artifacts, endpoint)
    try:
        found: dict[int, tuple[str, int]] = {}
        by_id = [(i, it) for i, it in enumerate(items) if it.request_id is not None]
        if by_id:
            wanted = pa.table(
                {
                    "i": pa.array([i for i, _ in by_id], pa.int64()),
                    "request_id": pa.array([it.request_id for _, it in by_id], pa.string()),
                    "row": pa.array([it.row for _, it in by_id], pa.int64()),
                }
            )
            conn.register("wanted", wanted)
            rows = conn.execute(
                """
                select w.i, r.n from wanted w left join (
                    select request_id, max(json_array_length(inputs)) n from requests
                    where endpoint = ? and not shadow group by request_id
                ) r using (request_id)
                """,
                [endpoint],
            ).fetchall()
            conn.unregister("wanted")
            missing = sorted(i for i, n in rows if n is None)
            if missing:
                _refuse(endpoint, [f"request {items[i].request_id!r}" for i in missing])
            beyond = sorted(i for i, n in rows if n and items[i].row >= n)
            if beyond:
                i = beyond[0]
                raise InvalidInput(
                    f"label {i}: request {items[i].request_id!r} carried fewer than "
                    f"{items[i].row + 1} rows",
                    field="row",
                )
            for i, it in by_id:
                assert it.request_id is not None
                found[i] = (it.request_id, it.row)
        columns = sorted({it.key[0] for it in items if it.key is not None})
        for column in columns:
            keyed = [(i, it) for i, it in enumerate(items) if it.key and it.key[0] == column]
            keys = [it.key[1] for _, it in keyed if it.key]
            wanted = pa.table(
                {
                    "i": pa.array([i for i, _ in keyed], pa.int64()),
                    "s": pa.array([k if isinstance(k, str) else None for k in keys], pa.string()),
                    "n": pa.array([k if isinstance(k, int) else None for k in keys], pa.float64()),
                }
            )
            conn.register("wanted", wanted)
            path = "$[*]." + '"' + column + '"'
            # A key matches as a string, or as a number whatever its JSON spelling (a model
            # trained on floats logs customer 17 as 17.0).
            rows = conn.execute(
                """
                with flat as (
                    select request_id, time, unnest(json_extract(inputs, ?)) j,
                           generate_subscripts(json_extract(inputs, ?), 1) - 1 row
                    from requests where endpoint = ? and not shadow
                ), keyed as (
                    select request_id, time, row, case when json_type(j) = 'VARCHAR'
                        then 's:' || (j ->> '$')
                        else 'n:' || cast(try_cast(j::varchar as double) as varchar) end k
                    from flat
                )
                select w.i, arg_max(f.request_id, f.time), arg_max(f.row, f.time)
                from wanted w left join keyed f
                  on f.k = coalesce('s:' || w.s, 'n:' || cast(w.n as varchar))
                group by w.i
                """,
                [path, path, endpoint],
            ).fetchall()
            conn.unregister("wanted")
            missing = sorted(i for i, rid, _ in rows if rid is None)
            if missing:
                named = [items[i].key for i in missing]
                _refuse(endpoint, [f"{k[0]}={k[1]!r}" for k in named if k is not None])
            for i, rid, row in rows:
                found[i] = (rid, int(row))
    finally:
        conn.close()
    return [(*found[i], it.label) for i, it in enumerate(items)]


def _refuse(endpoint: str, names: builtins.list[str]) -> None:
    shown = ", ".join(names[:_SHOWN]) + (
        f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    )
    raise InvalidInput(
        f"no {shown} in the request log of endpoint {endpoint!r}; nothing was stored. Label "
        "only requests the endpoint logged (check the id, the endpoint and its sample rate)",
        field="request_id",
    )
