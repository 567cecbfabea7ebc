"""The secret store protocol, kept by the SQL store (``sql.py``) and the HTTP store
(``http.py``)."""

from __future__ import annotations

import builtins
from typing import Protocol, runtime_checkable

from usina.secrets.entities import SecretInfo


@runtime_checkable
class SecretStore(Protocol):
    """Named secrets: set, list (names and history only), reveal a value, delete.

    Example:
        >>> from usina.client import Client
        >>> from usina.crypto import KeyRing
        >>> client = Client("sqlite://", "memory://", keys=KeyRing({"k1": bytes(32)}))
        >>> client.secrets.set("smtp-password", "hunter2").version
        1
        >>> [s.name for s in client.secrets.list()]
        ['smtp-password']
        >>> client.secrets.reveal("smtp-password")
        'hunter2'
    """

    def set(self, name: str, value: str) -> SecretInfo:
        """Store ``value`` under ``name`` (a new secret, or the next version of one)."""
        ...

    def get(self, name: str) -> SecretInfo:
        """What is known of ``name`` without its value; ``NotFound`` if absent."""
        ...

    def list(self, *, limit: int = 100, offset: int = 0) -> builtins.list[SecretInfo]:
        """Secrets by name, without values."""
        ...

    def reveal(self, name: str) -> str:
        """The value of ``name``: needs ``usina.secrets.read``, and is audited."""
        ...

    def delete(self, name: str) -> None:
        """Remove ``name``; ``NotFound`` if absent."""
        ...
