"""Checks of what goes into the audit log and of the filters that read it, shared by the SQL
store, the recorder and the HTTP store.

What a record may carry is bounded here. ``details`` holds a few facts about the request that
are not secrets and not bodies: at most ``MAX_DETAILS_BYTES`` of canonical JSON, keys of
letters, digits and ``_.-``, values that are strings, whole numbers, finite numbers, booleans,
``null`` or lists of those (no nested objects), no key that names a secret (``SECRET_WORDS``:
``password``, ``token``, ``secret``..., and ``api_key``, ``private_key``; a key whose last word
is ``id`` or ``name``, such as ``token_id``, names an identifier and is allowed), and no string
that carries a credential (``Bearer ...``, ``Basic ...``).
"""

from __future__ import annotations

import itertools
import math
import re
import time as _time
from typing import Any

import orjson

from usina.audit.entities import AuditEvent, Decision
from usina.errors import InvalidInput

MAX_DETAILS_BYTES = 2048
MAX_LIST = 64
SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "token",
        "tokens",
        "secret",
        "secrets",
        "authorization",
        "cookie",
        "cookies",
        "credential",
        "credentials",
        "apikey",
        "signature",
        "otp",
        "body",
    }
)
_SECRET_PAIRS = frozenset(
    {("api", "key"), ("private", "key"), ("access", "key"), ("secret", "key")}
)
_ID_WORDS = frozenset({"id", "ids", "name", "names", "prefix"})
_ACTION = re.compile(r"[a-z][a-z0-9_\-]*(\.[a-z][a-z0-9_\-]*)+")
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}")
_WORD = re.compile(r"[a-z]+")
_CREDENTIAL = re.compile(r"\s*(bearer|basic|token)\s+\S", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_INT = 2**53


def _text(value: Any, field: str, max_len: int, *, empty: bool) -> str:
    if not isinstance(value, str) or len(value) > max_len or (not empty and not value):
        need = f"at most {max_len} characters" + ("" if empty else ", not empty")
        raise InvalidInput(f"{field} {value!r} is not text of {need}", field=field)
    if _CONTROL.search(value):
        raise InvalidInput(f"{field} {value!r} holds control characters", field=field)
    return value


def check_actor(value: Any, field: str = "actor") -> str:
    return _text(value, field, 128, empty=False)


def check_action(value: Any, field: str = "action") -> str:
    if not isinstance(value, str) or len(value) > 128 or not _ACTION.fullmatch(value):
        raise InvalidInput(
            f"{field} {value!r} is not an action; use dotted lower-case words such as "
            "'usina.models.deploy' or 'auth.login'",
            field=field,
        )
    return value


def check_resource(value: Any, field: str = "resource") -> str:
    return _text(value, field, 512, empty=True)


def check_decision(value: Any, field: str = "decision") -> Decision:
    try:
        return Decision(value)
    except ValueError:
        raise InvalidInput(f"{field} {value!r} is not 'allow' or 'deny'", field=field) from None


def check_time(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{field} {value!r} is not a time in seconds since 1970", field=field)
    if not 0 <= value < 2**35:
        raise InvalidInput(f"{field} {value!r} is not a time between 1970 and 3058", field=field)
    return float(value)


def check_status(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise InvalidInput(f"status {value!r} is not an HTTP status (100 to 599)", field="status")
    return value


def _names_secret(key: str) -> bool:
    words = _WORD.findall(key.lower())
    if not words or words[-1] in _ID_WORDS:
        return False
    pairs = set(itertools.pairwise(words))
    return any(w in SECRET_WORDS for w in words) or bool(pairs & _SECRET_PAIRS)


def _check_scalar(value: Any, where: str) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -_MAX_INT <= value <= _MAX_INT:
            raise InvalidInput(f"{where} {value} is beyond +-2**53", field=where)
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{where} {value} is not a finite number", field=where)
        return
    if isinstance(value, str):
        if _CREDENTIAL.match(value):
            raise InvalidInput(
                f"{where} looks like a credential; the audit log never holds secrets",
                field=where,
            )
        return
    raise InvalidInput(
        f"{where} is a {type(value).__name__}; details hold strings, numbers, booleans, null "
        "or lists of those",
        field=where,
    )


def check_details(details: Any) -> dict[str, Any]:
    """The details of a record, checked against the rule in this module's docstring."""
    if details is None or (isinstance(details, dict) and not details):
        return {}
    if not isinstance(details, dict):
        raise InvalidInput("details must be an object of key: value", field="details")
    for key, value in details.items():
        where = f"details.{key}"
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise InvalidInput(
                f"details key {key!r} is not valid; use letters, digits and '_.-' (at most 64)",
                field="details",
            )
        if _names_secret(key):
            raise InvalidInput(
                f"details key {key!r} names a secret; the audit log never holds passwords, "
                "tokens, keys or request bodies (record an id such as 'token_id' instead)",
                field=where,
            )
        if isinstance(value, list | tuple):
            if len(value) > MAX_LIST:
                raise InvalidInput(f"{where} has more than {MAX_LIST} items", field=where)
            for item in value:
                _check_scalar(item, where)
        else:
            _check_scalar(value, where)
    size = len(canonical_json(details))
    if size > MAX_DETAILS_BYTES:
        raise InvalidInput(
            f"details take {size} bytes; the audit log keeps at most {MAX_DETAILS_BYTES} "
            "(record ids and counts, never request bodies)",
            field="details",
        )
    return {k: list(v) if isinstance(v, tuple) else v for k, v in details.items()}


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys, no spaces, UTF-8, numbers in their shortest round-trip form: one
    byte string per value (the same bytes as Python's ``json.dumps(value, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)`` for what a record may hold)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def check_event(event: AuditEvent) -> AuditEvent:
    """``event`` with every field checked and normalised (its time filled in when absent)."""
    if not isinstance(event, AuditEvent):
        raise InvalidInput(f"{event!r} is not an AuditEvent", field="event")
    return AuditEvent(
        actor=check_actor(event.actor),
        action=check_action(event.action),
        resource=check_resource(event.resource),
        decision=check_decision(event.decision),
        status=check_status(event.status),
        request_id=_text(event.request_id, "request_id", 128, empty=True),
        client=_text(event.client, "client", 128, empty=True),
        details=check_details(event.details),
        time=_time.time() if event.time is None else check_time(event.time, "time"),
    )


def check_filters(
    actor: str | None,
    resource: str | None,
    action: str | None,
    decision: str | None,
    since: float | None,
    until: float | None,
) -> None:
    """Refuse a filter of ``list`` that cannot match what the log holds. ``resource`` and
    ``action`` may end with ``*`` to match a prefix."""
    if actor is not None:
        check_actor(actor)
    if resource is not None:
        check_resource(resource)
    if action is not None:
        if action.endswith("*"):
            if not re.fullmatch(r"[a-z0-9_.\-]{0,127}", action[:-1]):
                raise InvalidInput(
                    f"action {action!r} is not an action prefix; use lower-case dotted words "
                    "ending in '*', such as 'usina.models.*'",
                    field="action",
                )
        else:
            check_action(action)
    if decision is not None:
        check_decision(decision)
    if since is not None:
        check_time(since, "since")
    if until is not None:
        check_time(until, "until")
    if since is not None and until is not None and until < since:
        raise InvalidInput(f"until {until} is before since {since}", field="until")


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d|w)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(value: str, field: str, now: float | None = None) -> float:
    """A time given as text: seconds since the epoch (``1764590000``), an ISO 8601 date or
    time (``2026-12-01``, ``2026-12-01T10:00:00+00:00``; UTC when no offset is given), or a
    duration ago (``30m``, ``2h``, ``7d``, ``1w``)."""
    import datetime as dt

    text = value.strip() if isinstance(value, str) else ""
    now = _time.time() if now is None else now
    try:
        return check_time(float(text), field)
    except ValueError:
        pass
    ago = _DURATION.fullmatch(text)
    if ago:
        return check_time(now - float(ago.group(1)) * _UNITS[ago.group(2)], field)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{field} {value!r} is not a time; give seconds since 1970, an ISO 8601 date or "
            "time (2026-12-01T10:00:00Z) or a duration ago (30m, 2h, 7d)",
            field=field,
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return check_time(parsed.timestamp(), field)
