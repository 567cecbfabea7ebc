"""Secrets the command line reads: from a hidden prompt at a terminal, or one line of stdin
when piped; never from the command's arguments, which other users can see."""

from __future__ import annotations

import sys

import typer

from usina.errors import InvalidInput


def read_secret(what: str, *, confirm: bool = False, field: str = "password") -> str:
    """A secret from a hidden prompt (asked twice with ``confirm``), or stdin's next line."""
    if sys.stdin.isatty():
        value = typer.prompt(what, hide_input=True, confirmation_prompt=confirm)
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise InvalidInput(
            f"no {what.lower()} given; type it at the prompt or pipe it on stdin", field=field
        )
    return str(value)


def parse_duration(text: str, field: str = "--expires") -> float:
    """``30m``, ``12h``, ``7d`` or ``3600s`` (or plain seconds) as seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        value = float(number) * units[unit]
    except ValueError:
        value = -1.0
    if not value > 0:
        raise InvalidInput(
            f"{field} {text!r} is not a duration; write a number and a unit: 30m, 12h, 7d",
            field=field,
        )
    return value
