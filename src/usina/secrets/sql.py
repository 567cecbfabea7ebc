"""Secrets in the metadata database, each value sealed with the master key (AES-256-GCM) and
bound to the secret's name, so a value copied under another name does not open."""

from __future__ import annotations

import builtins
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.audit.base import AuditLog
from usina.audit.entities import AuditEvent, Decision
from usina.crypto.keys import KeyProvider, require_keys
from usina.crypto.sealing import open_bytes, seal_bytes
from usina.errors import NotFound
from usina.secrets.entities import SecretInfo, check_name, check_page, check_value
from usina.store import Database
from usina.store import schema as t

READ = "usina.secrets.read"


def _bound(name: str) -> bytes:
    return f"usina secret:{name}".encode()


def _info(row: Any) -> SecretInfo:
    return SecretInfo(row.name, int(row.version), row.created_at, row.updated_at, row.updated_by)


class SqlSecretStore:
    """Secrets on the metadata database (``usina.secrets.base.SecretStore``).

    ``keys`` seal and open values (without them, ``set`` and ``reveal`` fail naming
    ``USINA_MASTER_KEY``; listing and deleting still work). With ``audit``, every value read
    appends an audit record; the server passes none, since its audit trail records each
    request to read a value, allowed or refused.
    """

    def __init__(
        self,
        db: Database,
        actor: str = "local",
        keys: KeyProvider | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.db = db
        self.actor = actor
        self.keys = keys
        self.audit = audit

    def set(self, name: str, value: str) -> SecretInfo:
        check_name(name)
        check_value(value)
        keys = require_keys(self.keys, "storing a secret")
        key_id = keys.current_key_id
        sealed = seal_bytes(keys, value.encode(), _bound(name))

        def tx(conn: Connection) -> SecretInfo:
            c = t.secrets.c
            found = conn.execute(sa.select(c.version).where(c.name == name)).first()
            now = time.time()
            if found is None:
                conn.execute(
                    t.secrets.insert().values(
                        name=name,
                        value=sealed,
                        key_id=key_id,
                        version=1,
                        created_at=now,
                        updated_at=now,
                        updated_by=self.actor,
                    )
                )
            else:
                conn.execute(
                    t.secrets.update()
                    .where(c.name == name)
                    .values(
                        value=sealed,
                        key_id=key_id,
                        version=int(found.version) + 1,
                        updated_at=now,
                        updated_by=self.actor,
                    )
                )
            return self._load(conn, name)

        return self.db.write(tx)

    def get(self, name: str) -> SecretInfo:
        check_name(name)
        with self.db.read() as conn:
            return self._load(conn, name)

    def list(self, *, limit: int = 100, offset: int = 0) -> builtins.list[SecretInfo]:
        check_page(limit, offset)
        c = t.secrets.c
        query = (
            sa.select(c.name, c.version, c.created_at, c.updated_at, c.updated_by)
            .order_by(c.name)
            .limit(limit)
            .offset(offset)
        )
        with self.db.read() as conn:
            return [_info(row) for row in conn.execute(query)]

    def reveal(self, name: str) -> str:
        check_name(name)
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.secrets.c.value).where(t.secrets.c.name == name)).first()
        if row is None:
            raise NotFound(f"no secret named {name!r}", field="name")
        keys = require_keys(self.keys, f"reading secret {name!r}")
        value = open_bytes(keys, bytes(row.value), _bound(name), f"secret {name!r}").decode()
        if self.audit is not None:
            self.audit.append(
                [AuditEvent(self.actor, READ, f"secrets/{name}", Decision.ALLOW, status=200)]
            )
        return value

    def delete(self, name: str) -> None:
        check_name(name)

        def tx(conn: Connection) -> None:
            deleted = conn.execute(t.secrets.delete().where(t.secrets.c.name == name))
            if deleted.rowcount == 0:
                raise NotFound(f"no secret named {name!r}", field="name")

        self.db.write(tx)

    def _load(self, conn: Connection, name: str) -> SecretInfo:
        c = t.secrets.c
        row = conn.execute(
            sa.select(c.name, c.version, c.created_at, c.updated_at, c.updated_by).where(
                c.name == name
            )
        ).first()
        if row is None:
            raise NotFound(f"no secret named {name!r}", field="name")
        return _info(row)
