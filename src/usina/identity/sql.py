"""Principals, roles, bindings and tokens in the metadata database.

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

from usina.errors import Conflict, InvalidInput, NotFound, TooManyAttempts, Unauthenticated
from usina.identity import checks
from usina.identity.credentials import (
    hash_password,
    needs_rehash,
    new_token_id,
    new_token_secret,
    secret_hash,
    verify_password,
)
from usina.identity.entities import (
    GROUP,
    SERVICE_ACCOUNT,
    USER,
    Binding,
    IssuedToken,
    Principal,
    Role,
    Token,
)
from usina.identity.permissions import ROLES, WORKSPACE
from usina.store import Database, insert_if_absent
from usina.store import schema as t

LOGIN_TOKEN_S = 12 * 3600.0  # a login's token lasts a working day unless asked otherwise
MAX_FAILURES = 5
FAILURE_WINDOW_S = 900.0
LOCKOUT_S = 900.0
WRONG_LOGIN = "wrong user name or password"


def _predefined(name: str) -> Role:
    spec = ROLES[name]
    return Role(spec.name, tuple(sorted(spec.permissions)), spec.description, True)


def _token(row: Any, principal: str) -> Token:
    return Token(
        row.id,
        principal,
        row.name,
        tuple(orjson.loads(row.scope)),
        row.created_at,
        row.created_by,
        row.expires_at,
        row.revoked_at,
        row.last_used_at,
    )


class SqlIdentityStore:
    """Users, groups, service accounts, roles, bindings, tokens and logins on ``db``.

    ``token_max_days`` bounds every token's lifetime; ``max_failures`` failed logins for one
    name within ``failure_window_s`` lock that name for ``lockout_s`` seconds.
    """

    def __init__(
        self,
        db: Database,
        actor: str = "local",
        *,
        token_max_days: float = 90.0,
        max_failures: int = MAX_FAILURES,
        failure_window_s: float = FAILURE_WINDOW_S,
        lockout_s: float = LOCKOUT_S,
    ) -> None:
        self.db = db
        self.actor = actor
        self.token_max_days = token_max_days
        self.max_failures = max_failures
        self.failure_window_s = failure_window_s
        self.lockout_s = lockout_s

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
                raise _missing(kind, name)
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

    # -- tokens and logins ----------------------------------------------------------------

    def issue_token(
        self,
        principal: str,
        expires_in: float,
        scope: Iterable[str] = (),
        name: str = "",
    ) -> IssuedToken:
        kind, pname = checks.parse_ref(principal)
        if kind == GROUP:
            raise InvalidInput(
                "a group cannot hold tokens; issue one to a user or a service account",
                field="principal",
            )
        expires = checks.check_expires_in(expires_in, self.token_max_days)
        perms = checks.check_permissions(scope, "scope")
        if name:
            checks.check_name(name, "token name")
        return self.db.write(lambda conn: self._issue(conn, kind, pname, expires, perms, name))

    def list_tokens(self, principal: str | None = None) -> builtins.list[Token]:
        k, p = t.tokens, t.principals
        query = sa.select(k, p.c.kind, p.c.name.label("pname")).join(p, p.c.id == k.c.principal_id)
        if principal is not None:
            kind, name = checks.parse_ref(principal)
            query = query.where(p.c.kind == kind, p.c.name == name)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(k.c.created_at, k.c.id)).all()
        return [_token(r, f"{r.kind}:{r.pname}") for r in rows]

    def revoke_token(self, token_id: str) -> Token:
        checks.check_token_id(token_id)
        now = time.time()

        def tx(conn: Connection) -> None:
            found = conn.execute(
                sa.select(t.tokens.c.revoked_at).where(t.tokens.c.id == token_id)
            ).first()
            if found is None:
                raise NotFound(
                    f"no token {token_id}; list them with 'usina tokens list'", field="token_id"
                )
            if found.revoked_at is None:
                conn.execute(
                    t.tokens.update().where(t.tokens.c.id == token_id).values(revoked_at=now)
                )

        self.db.write(tx)
        return self.get_token(token_id)

    def get_token(self, token_id: str) -> Token:
        checks.check_token_id(token_id)
        k, p = t.tokens, t.principals
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(k, p.c.kind, p.c.name.label("pname"))
                .join(p, p.c.id == k.c.principal_id)
                .where(k.c.id == token_id)
            ).first()
        if row is None:
            raise NotFound(
                f"no token {token_id}; list them with 'usina tokens list'", field="token_id"
            )
        return _token(row, f"{row.kind}:{row.pname}")

    def login(
        self,
        user: str,
        password: str,
        expires_in: float | None = None,
        scope: Iterable[str] = (),
    ) -> IssuedToken:
        """A token for ``user`` if ``password`` is theirs. Failures are counted by name in the
        database; after ``max_failures`` within the window the name is locked for a while."""
        name = checks.check_user_ref(user)
        if not isinstance(password, str) or len(password) > checks.MAX_PASSWORD:
            raise Unauthenticated(WRONG_LOGIN)
        expires = checks.check_expires_in(
            LOGIN_TOKEN_S if expires_in is None else expires_in, self.token_max_days
        )
        perms = checks.check_permissions(scope, "scope")
        now = time.time()
        with self.db.read() as conn:
            locked = conn.execute(
                sa.select(t.login_attempts.c.locked_until).where(t.login_attempts.c.name == name)
            ).scalar()
            stored = conn.execute(
                sa.select(t.principals.c.password_hash).where(
                    t.principals.c.kind == USER, t.principals.c.name == name
                )
            ).scalar()
        if locked is not None and locked > now:
            raise _locked(locked - now)
        if not verify_password(stored, password):
            self._count_failure(name, now)
            raise Unauthenticated(WRONG_LOGIN)
        rehashed = hash_password(password) if stored and needs_rehash(stored) else None

        def tx(conn: Connection) -> IssuedToken:
            # A lockout that began while the password was being checked still holds.
            locked = conn.execute(
                sa.select(t.login_attempts.c.locked_until).where(t.login_attempts.c.name == name)
            ).scalar()
            if locked is not None and locked > time.time():
                raise _locked(locked - time.time())
            conn.execute(t.login_attempts.delete().where(t.login_attempts.c.name == name))
            if rehashed is not None:
                conn.execute(
                    t.principals.update()
                    .where(t.principals.c.kind == USER, t.principals.c.name == name)
                    .values(password_hash=rehashed)
                )
            return self._issue(conn, USER, name, expires, perms, "login")

        return self.db.write(tx)

    def bootstrap_admin(
        self, bootstrap_hash: str, user: str, password: str, expires_in: float | None = None
    ) -> IssuedToken:
        """Create ``user`` as a workspace admin and issue their token, once per bootstrap
        secret (``bootstrap_hash`` is its SHA-256; the caller has checked the secret)."""
        name = checks.check_user_ref(user)
        checks.check_password(password)
        expires = checks.check_expires_in(
            LOGIN_TOKEN_S if expires_in is None else expires_in, self.token_max_days
        )
        hashed = hash_password(password)
        now = time.time()

        def tx(conn: Connection) -> IssuedToken:
            used = {"secret_hash": bootstrap_hash, "used_at": now, "user_name": name}
            if not insert_if_absent(conn, t.bootstrap_uses, used, ["secret_hash"]):
                raise Unauthenticated(
                    "this bootstrap token was already exchanged; log in as the admin it made, "
                    "or create another with 'usina admin create' on the database"
                )
            values = {
                "kind": USER,
                "name": name,
                "description": "first admin, from the bootstrap token",
                "password_hash": hashed,
                "created_at": now,
                "created_by": "bootstrap",
            }
            if not insert_if_absent(conn, t.principals, values, ["kind", "name"]):
                raise Conflict(f"user {name!r} already exists; pick another name", field="user")
            pid = self._id(conn, USER, name)
            conn.execute(
                t.role_bindings.insert().values(
                    principal_id=pid,
                    role="admin",
                    resource=WORKSPACE,
                    created_at=now,
                    created_by="bootstrap",
                )
            )
            return self._issue(conn, USER, name, expires, (), "bootstrap")

        return self.db.write(tx)

    # -- internals ------------------------------------------------------------------------

    def _issue(
        self,
        conn: Connection,
        kind: str,
        name: str,
        expires_in: float,
        scope: tuple[str, ...],
        label: str,
    ) -> IssuedToken:
        pid = self._id(conn, kind, name, "principal")
        secret = new_token_secret()
        now = time.time()
        token = Token(
            new_token_id(),
            f"{kind}:{name}",
            label,
            scope,
            now,
            self.actor,
            now + expires_in,
            None,
            None,
        )
        conn.execute(
            t.tokens.insert().values(
                id=token.id,
                secret_hash=secret_hash(secret),
                principal_id=pid,
                name=label,
                scope=orjson.dumps(list(scope)).decode(),
                created_at=now,
                created_by=self.actor,
                expires_at=token.expires_at,
            )
        )
        return IssuedToken(token, secret)

    def _count_failure(self, name: str, now: float) -> None:
        window_start = now - self.failure_window_s
        a = t.login_attempts

        def tx(conn: Connection) -> None:
            insert_if_absent(conn, a, {"name": name, "failures": 0, "window_start": now}, ["name"])
            # One statement, so concurrent failures on other workers each count.
            fresh = a.c.window_start < window_start
            conn.execute(
                a.update()
                .where(a.c.name == name)
                .values(
                    failures=sa.case((fresh, 1), else_=a.c.failures + 1),
                    window_start=sa.case((fresh, now), else_=a.c.window_start),
                )
            )
            conn.execute(
                a.update()
                .where(a.c.name == name, a.c.failures >= self.max_failures)
                .values(locked_until=now + self.lockout_s, failures=0, window_start=now)
            )

        self.db.write(tx)

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

    @staticmethod
    def _id(conn: Connection, kind: str, name: str, field: str = "name") -> int:
        found = conn.execute(
            sa.select(t.principals.c.id).where(
                t.principals.c.kind == kind, t.principals.c.name == name
            )
        ).scalar()
        if found is None:
            raise _missing(kind, name, field)
        return int(found)

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


def _missing(kind: str, name: str, field: str = "name") -> NotFound:
    listing = {USER: "users", GROUP: "groups", SERVICE_ACCOUNT: "service-accounts"}[kind]
    return NotFound(f"no {kind} {name!r}; list them with 'usina {listing} list'", field=field)


def _locked(remaining: float) -> TooManyAttempts:
    return TooManyAttempts(
        f"too many failed logins for this name; try again in {max(1, round(remaining))} s"
    )
