"""Pages of a list: ``limit`` items after skipping ``offset``, checked the same way everywhere."""

from __future__ import annotations

from typing import Any

from usina.errors import InvalidInput

MAX_PAGE = 10_000


def check_page(limit: Any, offset: Any) -> None:
    """Refuse a ``limit`` outside 1 to ``MAX_PAGE`` (``None``: all) or a negative ``offset``."""
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE
    ):
        raise InvalidInput(f"limit {limit!r} is not between 1 and {MAX_PAGE}", field="limit")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInput(f"offset {offset!r} is not a non-negative integer", field="offset")
