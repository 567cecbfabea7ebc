"""Settings that hold a secret (``USINA_SMTP_PASSWORD``, ``USINA_WEBHOOK_SECRET``) may name a
stored secret instead, as ``secret:NAME``; the edge that builds its configuration resolves the
name with :func:`resolve_references` (one audited read per secret) before handing values on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from usina.errors import InvalidInput, NotFound
from usina.secrets.base import SecretStore
from usina.secrets.entities import REFERENCE_PREFIX, parse_reference

# The settings whose value may be a reference, by field name.
SECRET_FIELDS = ("smtp_password", "webhook_secret")

T = TypeVar("T")


def references(settings: Any) -> dict[str, str]:
    """The secret each setting of ``SECRET_FIELDS`` names (``{field: name}``), if any."""
    found = {}
    for name in SECRET_FIELDS:
        value: Any = getattr(settings, name, None)
        text = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        if isinstance(text, str) and text.startswith(REFERENCE_PREFIX):
            try:
                secret = parse_reference(text)
            except InvalidInput as exc:
                setting = f"USINA_{name.upper()}"
                raise InvalidInput(f"{setting}: {exc}", field=setting) from None
            if secret is not None:
                found[name] = secret
    return found


def resolve_references(settings: T, store: SecretStore | Callable[[], SecretStore]) -> T:
    """``settings`` (a pydantic model) with each ``secret:NAME`` replaced by the secret's
    value; unchanged, and no store opened, when none is a reference."""
    from pydantic import SecretStr

    found = references(settings)
    if not found:
        return settings
    opened = store if isinstance(store, SecretStore) else store()
    values = {}
    for field, secret in found.items():
        try:
            values[field] = SecretStr(opened.reveal(secret))
        except NotFound:
            raise InvalidInput(
                f"USINA_{field.upper()} names {REFERENCE_PREFIX}{secret}, which is not stored; "
                f"run `usina secrets set {secret}`",
                field=f"USINA_{field.upper()}",
            ) from None
    copied: T = settings.model_copy(update=values)  # type: ignore[attr-defined]
    return copied
