"""``models:/`` URIs: ``models:/credit-risk@champion``, ``models:/credit-risk/3``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from usina.errors import InvalidInput, InvalidUri

_NAME = r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}"
_ALIAS = r"[A-Za-z][A-Za-z0-9_\-]{0,63}"
MODEL_NAME = re.compile(_NAME)
ALIAS_NAME = re.compile(_ALIAS)
_URI = re.compile(
    rf"models:/(?P<name>{_NAME})(?:@(?P<alias>{_ALIAS})|/(?P<version>[1-9][0-9]{{0,8}}))?"
)


@dataclass(frozen=True)
class ModelRef:
    """A model name plus at most one of a version number or an alias (neither means latest)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.alias:
            return f"models:/{self.name}@{self.alias}"
        if self.version:
            return f"models:/{self.name}/{self.version}"
        return f"models:/{self.name}"


def parse_model_uri(uri: str) -> ModelRef:
    """Parse a ``models:/`` URI; raise ``InvalidUri`` saying the accepted forms."""
    match = _URI.fullmatch(uri) if isinstance(uri, str) else None
    if not match:
        raise InvalidUri(
            f"{uri!r} is not a model URI; use models:/NAME@ALIAS, models:/NAME/VERSION "
            "or models:/NAME (latest)",
            field="uri",
        )
    version = match["version"]
    return ModelRef(match["name"], int(version) if version else None, match["alias"])


def check_model_name(name: str) -> str:
    """A model name: letters, digits and ``._-``, starting with a letter or digit, ≤ 128."""
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
        raise InvalidInput(
            f"model name {name!r} is not valid; use letters, digits and '._-' "
            "(starting with a letter or digit, at most 128 characters)",
            field="name",
        )
    return name


def check_alias(alias: str) -> str:
    """An alias: a letter, then letters, digits, ``_`` or ``-`` (``champion``, ``challenger``)."""
    if not isinstance(alias, str) or not ALIAS_NAME.fullmatch(alias) or alias.isdigit():
        raise InvalidInput(
            f"alias {alias!r} is not valid; use a letter followed by letters, digits, '_' or '-' "
            "(for example 'champion')",
            field="alias",
        )
    return alias
