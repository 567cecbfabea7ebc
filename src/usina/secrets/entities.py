"""A secret as the API shows it: its name and history, never its value; and the checks of a
name and a value, shared by the SQL and HTTP stores."""

from __future__ import annotations

import re
from dataclasses import dataclass

from usina.errors import InvalidInput

MAX_VALUE_BYTES = 64 * 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Settings that hold a secret may name one instead: ``secret:NAME``.
REFERENCE_PREFIX = "secret:"


@dataclass(frozen=True)
class SecretInfo:
    """What is known of a secret without reading it: its version counts every ``set``."""

    name: str
    version: int
    created_at: float
    updated_at: float
    updated_by: str


def check_name(name: object) -> str:
    """``name`` if it is 1-128 letters, digits, '.', '_' or '-' (starting alphanumeric)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = name[:40] if isinstance(name, str) else name
        raise InvalidInput(
            f"secret name {shown!r} is not valid; use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (smtp-password, aws.secret_key)",
            field="name",
        )
    return name


def check_value(value: object) -> str:
    """``value`` if it is a non-empty string of at most 64 KiB (UTF-8)."""
    if not isinstance(value, str) or not value:
        raise InvalidInput("a secret's value must be a non-empty string", field="value")
    if len(value.encode()) > MAX_VALUE_BYTES:
        raise InvalidInput(
            f"a secret's value is at most {MAX_VALUE_BYTES} bytes; store larger files as "
            "artifacts (encrypted at rest with the same key)",
            field="value",
        )
    return value


def check_page(limit: int, offset: int) -> None:
    """A page of 1 to 1,000 secrets from ``offset`` >= 0."""
    if not 1 <= limit <= 1000:
        raise InvalidInput(f"limit {limit} is outside 1..1000", field="limit")
    if offset < 0:
        raise InvalidInput(f"offset {offset} is negative", field="offset")


def parse_reference(value: str) -> str | None:
    """The secret a setting's value names (``secret:NAME``), or ``None`` for a plain value."""
    if not value.startswith(REFERENCE_PREFIX):
        return None
    return check_name(value[len(REFERENCE_PREFIX) :])
