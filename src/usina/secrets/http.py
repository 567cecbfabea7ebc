"""Secrets kept by a usina server, through ``/api/v1/secrets``: the same protocol and checks
as ``SqlSecretStore``, which the server runs with its own master key."""

from __future__ import annotations

import builtins
from typing import Any

from usina.connection import ServerConnection, segment
from usina.secrets.entities import SecretInfo, check_name, check_page, check_value


def _info(d: dict[str, Any]) -> SecretInfo:
    return SecretInfo(d["name"], d["version"], d["created_at"], d["updated_at"], d["updated_by"])


class HttpSecretStore:
    """Secrets on the server ``server`` talks to (``usina.secrets.base.SecretStore``)."""

    def __init__(self, server: ServerConnection) -> None:
        self.server = server

    def set(self, name: str, value: str) -> SecretInfo:
        check_name(name)
        check_value(value)
        return _info(self.server.call("PUT", f"/secrets/{segment(name)}", json={"value": value}))

    def get(self, name: str) -> SecretInfo:
        check_name(name)
        return _info(self.server.call("GET", f"/secrets/{segment(name)}"))

    def list(self, *, limit: int = 100, offset: int = 0) -> builtins.list[SecretInfo]:
        check_page(limit, offset)
        page = self.server.call("GET", "/secrets", params={"limit": limit, "offset": offset})
        return [_info(d) for d in page["items"]]

    def reveal(self, name: str) -> str:
        check_name(name)
        found: str = self.server.call("GET", f"/secrets/{segment(name)}/value")["value"]
        return found

    def delete(self, name: str) -> None:
        check_name(name)
        self.server.call("DELETE", f"/secrets/{segment(name)}")
