"""Principals, roles and bindings in the metadata database; tokens and logins come from
``SqlTokenStore`` (``sql_tokens.py``).

Every check runs here (through ``checks.py``), in the write's transaction where it reads the
database, so the HTTP store, which goes through the server to this one, refuses the same input.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterable
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from usina.errors import Conflict, InvalidInput, NotFound
from usina.identity import checks
from usina.identity.credentials import (
    hash_password,
)
from usina.identity.entities import (
    GROUP,
    USER,
    Binding,
    Principal,
    Role,
)
from usina.identity.permissions import ROLES, WORKSPACE
from usina.identity.sql_tokens import SqlTokenStore, missing
from usina.store import insert_if_absent
from usina.store import schema as t


def _predefined(name: str) -> Role:
    spec = ROLES[name]
    return Role(spec.name, tuple(sorted(spec.permissions)), spec.description, True)


class SqlIdentityStore(SqlTokenStore):
    """Users, groups, service accounts, roles, bindings, tokens and logins on ``db``.

    ``token_max_days`` bounds every token's lifetime; ``max_failures`` failed logins for one
    name within ``failure_window_s`` lock that name for ``lockout_s`` seconds.
    """

    # -- principals -----------------------------------------------------------------------

    def create_principal(
        self,
        kind: str,
        name: str,
        *,
        password: str | None = None,
        description: str = "",
        members: Iterable[str] = (),
    ) -> Principal:
        checks.check_kind(kind)
        checks.check_name(name)
        if password is not None:
            if kind != USER:
                raise InvalidInput(
                    f"only users have passwords; a {kind} authenticates with tokens",
                    field="password",
                )
            checks.check_password(password)
        member_refs = [checks.parse_ref(m, "members") for m in members]
        if member_refs and kind != GROUP:
            raise InvalidInput(f"only groups have members, not a {kind}", field="members")
        _check_description(description)
        hashed = hash_password(password) if password is not None else None
        now = time.time()

        def tx(conn: Connection) -> None:
            values = {
                "kind": kind,
                "name": name,
                "description": description,
                "password_hash": hashed,
                "created_at": now,
                "created_by": self.actor,
            }
            if not insert_if_absent(conn, t.principals, values, ["kind", "name"]):
                raise Conflict(f"{kind} {name!r} already exists; pick another name", field="name")
            if member_refs:
                group_id = self._id(conn, GROUP, name)
                for ref in member_refs:
                    self._add_member(conn, group_id, *ref)

        self.db.write(tx)
        return self.get_principal(f"{kind}:{name}")

    def get_principal(self, ref: str) -> Principal:
        kind, name = checks.parse_ref(ref)
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(t.principals).where(
                    t.principals.c.kind == kind, t.principals.c.name == name
                )
            ).first()
            if row is None:
                raise missing(kind, name)
            return self._principal(conn, row)

    def list_principals(self, kind: str | None = None) -> builtins.list[Principal]:
        query = sa.select(t.principals).order_by(t.principals.c.kind, t.principals.c.name)
        if kind is not None:
            query = query.where(t.principals.c.kind == checks.check_kind(kind))
        with self.db.read() as conn:
            return [self._principal(conn, r) for r in conn.execute(query).all()]

    def set_members(
        self, group: str, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> Principal:
        checks.check_name(group, "group")
        adding = [checks.parse_ref(m, "add") for m in add]
        removing = [checks.parse_ref(m, "remove") for m in remove]

        def tx(conn: Connection) -> None:
            group_id = self._id(conn, GROUP, group, "group")
            for ref in adding:
                self._add_member(conn, group_id, *ref)
            for kind, name in removing:
                member_id = self._id(conn, kind, name, "remove")
                conn.execute(
                    t.group_members.delete().where(
                        t.group_members.c.group_id == group_id,
                        t.group_members.c.member_id == member_id,
                    )
                )

        self.db.write(tx)
        return self.get_principal(f"{GROUP}:{group}")

    def set_password(self, user: str, password: str) -> None:
        checks.check_user_ref(user)
        checks.check_password(password)
        name = checks.check_user_ref(user)
        hashed = hash_password(password)

        def tx(conn: Connection) -> None:
            user_id = self._id(conn, USER, name)
            conn.execute(
                t.principals.update()
                .where(t.principals.c.id == user_id)
                .values(password_hash=hashed)
            )

        self.db.write(tx)

    def delete_principal(self, ref: str) -> None:
        """Delete a principal with its bindings, group memberships and tokens."""
        kind, name = checks.parse_ref(ref)

        def tx(conn: Connection) -> None:
            pid = self._id(conn, kind, name)
            conn.execute(t.role_bindings.delete().where(t.role_bindings.c.principal_id == pid))
            conn.execute(
                t.group_members.delete().where(
                    sa.or_(t.group_members.c.group_id == pid, t.group_members.c.member_id == pid)
                )
            )
            conn.execute(t.tokens.delete().where(t.tokens.c.principal_id == pid))
            conn.execute(t.principals.delete().where(t.principals.c.id == pid))

        self.db.write(tx)

    # -- roles and bindings ---------------------------------------------------------------

    def create_role(self, name: str, permissions: Iterable[str], description: str = "") -> Role:
        checks.check_name(name)
        perms = checks.check_permissions(permissions)
        if not perms:
            raise InvalidInput("a role needs at least one permission", field="permissions")
        _check_description(description)
        if name in ROLES:
            raise Conflict(f"{name!r} is a predefined role; pick another name", field="name")
        values = {
            "name": name,
            "description": description,
            "permissions": orjson.dumps(perms).decode(),
            "created_at": time.time(),
            "created_by": self.actor,
        }

        def tx(conn: Connection) -> None:
            if not insert_if_absent(conn, t.roles, values, ["name"]):
                raise Conflict(f"role {name!r} already exists; pick another name", field="name")

        self.db.write(tx)
        return self.get_role(name)

    def get_role(self, name: str) -> Role:
        checks.check_name(name)
        if name in ROLES:
            return _predefined(name)
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.roles).where(t.roles.c.name == name)).first()
        if row is None:
            raise NotFound(f"no role {name!r}; list them with 'usina roles list'", field="name")
        return Role(row.name, tuple(orjson.loads(row.permissions)), row.description, False)

    def list_roles(self) -> builtins.list[Role]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(t.roles).order_by(t.roles.c.name)).all()
        custom = [
            Role(r.name, tuple(orjson.loads(r.permissions)), r.description, False) for r in rows
        ]
        return [_predefined(n) for n in ROLES] + custom

    def delete_role(self, name: str) -> None:
        checks.check_name(name)
        if name in ROLES:
            raise InvalidInput(f"{name!r} is a predefined role and cannot be deleted", field="name")

        def tx(conn: Connection) -> None:
            used = conn.execute(
                sa.select(sa.func.count())
                .select_from(t.role_bindings)
                .where(t.role_bindings.c.role == name)
            ).scalar_one()
            if used:
                raise Conflict(
                    f"role {name!r} is bound {used} time(s); remove those bindings first "
                    f"('usina bindings list --role {name}')",
                    field="name",
                )
            if not conn.execute(t.roles.delete().where(t.roles.c.name == name)).rowcount:
                raise NotFound(f"no role {name!r}; list them with 'usina roles list'", field="name")

        self.db.write(tx)

    def bind(self, principal: str, role: str, resource: str = WORKSPACE) -> Binding:
        kind, name = checks.parse_ref(principal)
        checks.check_name(role, "role")
        checks.check_resource(resource)
        try:
            self.get_role(role)
        except NotFound as exc:
            raise NotFound(exc.message, field="role") from None
        now = time.time()

        def tx(conn: Connection) -> int:
            pid = self._id(conn, kind, name, "principal")
            values = {
                "principal_id": pid,
                "role": role,
                "resource": resource,
                "created_at": now,
                "created_by": self.actor,
            }
            if not insert_if_absent(
                conn, t.role_bindings, values, ["principal_id", "role", "resource"]
            ):
                raise Conflict(f"{principal} already holds {role} on {resource}", field="role")
            found: int = conn.execute(
                sa.select(t.role_bindings.c.id).where(
                    t.role_bindings.c.principal_id == pid,
                    t.role_bindings.c.role == role,
                    t.role_bindings.c.resource == resource,
                )
            ).scalar_one()
            return found

        binding_id = self.db.write(tx)
        return Binding(binding_id, f"{kind}:{name}", role, resource, now, self.actor)

    def list_bindings(
        self, principal: str | None = None, resource: str | None = None
    ) -> builtins.list[Binding]:
        b, p = t.role_bindings, t.principals
        query = (
            sa.select(b, p.c.kind, p.c.name).join(p, p.c.id == b.c.principal_id).order_by(b.c.id)
        )
        if principal is not None:
            kind, name = checks.parse_ref(principal)
            query = query.where(p.c.kind == kind, p.c.name == name)
        if resource is not None:
            query = query.where(b.c.resource == checks.check_resource(resource))
        with self.db.read() as conn:
            return [
                Binding(r.id, f"{r.kind}:{r.name}", r.role, r.resource, r.created_at, r.created_by)
                for r in conn.execute(query)
            ]

    def unbind(self, binding_id: int) -> None:
        checks.check_binding_id(binding_id)

        def tx(conn: Connection) -> None:
            deleted = conn.execute(
                t.role_bindings.delete().where(t.role_bindings.c.id == binding_id)
            )
            if not deleted.rowcount:
                raise NotFound(
                    f"no binding {binding_id}; list them with 'usina bindings list'",
                    field="binding_id",
                )

        self.db.write(tx)

    # -- internals ------------------------------------------------------------------------

    def _principal(self, conn: Connection, row: Any) -> Principal:
        members: tuple[str, ...] = ()
        if row.kind == GROUP:
            m, p = t.group_members, t.principals
            found = conn.execute(
                sa.select(p.c.kind, p.c.name)
                .join(m, m.c.member_id == p.c.id)
                .where(m.c.group_id == row.id)
                .order_by(p.c.kind, p.c.name)
            )
            members = tuple(f"{r.kind}:{r.name}" for r in found)
        return Principal(
            row.kind,
            row.name,
            row.description,
            members,
            row.password_hash is not None,
            row.created_at,
            row.created_by,
        )

    def _add_member(self, conn: Connection, group_id: int, kind: str, name: str) -> None:
        if kind == GROUP:
            raise InvalidInput(
                f"group:{name} cannot be a member; a group holds users and service accounts",
                field="members",
            )
        member_id = self._id(conn, kind, name, "members")
        insert_if_absent(
            conn,
            t.group_members,
            {"group_id": group_id, "member_id": member_id},
            ["group_id", "member_id"],
        )


def _check_description(description: Any) -> None:
    if not isinstance(description, str) or len(description) > 2000:
        raise InvalidInput(
            "description must be text of at most 2000 characters", field="description"
        )
