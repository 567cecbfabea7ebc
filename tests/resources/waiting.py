"""Waiting in tests: on a condition, with a deadline, never a bare sleep.

A test that needs something to happen elsewhere (a thread, a server, another process) polls
the observable condition until it holds or the deadline passes; the failure then says what
it waited for, instead of a later assertion failing for a reason it cannot name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    message: str | Callable[[], str],
    *,
    interval: float = 0.05,
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """Call ``condition`` until it returns a truthy value, and return that value.

    Args:
        condition: checks the state once; exceptions of the ``ignoring`` types count as
            "not yet" (for instance ``httpx.TransportError`` while a server starts).
        timeout: seconds before giving up. It is a bound on a hang, not a measurement: pick
            it generous, since the machine may be busy.
        message: what is awaited, completing "timed out after N s waiting for ..."; a
            callable is called on timeout (to include a server's log as it is then).
        interval: seconds between checks.

    Raises:
        AssertionError: the condition did not hold within ``timeout``; the message names
            what was awaited and the last value or exception seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except ignoring as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if value:
                return value
            last = repr(value)
        if time.monotonic() >= deadline:
            what = message if isinstance(message, str) else message()
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} ({last})")
        time.sleep(interval)
