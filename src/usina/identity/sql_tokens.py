"""Tokens and logins in the metadata database: issue, list and revoke tokens (kept as the
SHA-256 of their secret), log users in with failures counted per name, and the one-time
bootstrap of the first admin. ``SqlIdentityStore`` (``sql.py``) adds principals, roles and
bindings on top."""

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
from usina.identity.entities import GROUP, SERVICE_ACCOUNT, USER, IssuedToken, Token
from usina.identity.permissions import WORKSPACE
from usina.store import Database, insert_if_absent
from usina.store import schema as t

LOGIN_TOKEN_S = 12 * 3600.0  # a login's token lasts a working day unless asked otherwise
MAX_FAILURES = 5
FAILURE_WINDOW_S = 900.0
LOCKOUT_S = 900.0
WRONG_LOGIN = "wrong user name or password"


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


class SqlTokenStore:
    """Tokens and logins on ``db``.

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

    @staticmethod
    def _id(conn: Connection, kind: str, name: str, field: str = "name") -> int:
        found = conn.execute(
            sa.select(t.principals.c.id).where(
                t.principals.c.kind == kind, t.principals.c.name == name
            )
        ).scalar()
        if found is None:
            raise missing(kind, name, field)
        return int(found)


def missing(kind: str, name: str, field: str = "name") -> NotFound:
    listing = {USER: "users", GROUP: "groups", SERVICE_ACCOUNT: "service-accounts"}[kind]
    return NotFound(f"no {kind} {name!r}; list them with 'usina {listing} list'", field=field)


def _locked(remaining: float) -> TooManyAttempts:
    return TooManyAttempts(
        f"too many failed logins for this name; try again in {max(1, round(remaining))} s"
    )
