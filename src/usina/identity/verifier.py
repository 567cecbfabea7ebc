"""``TokenVerifier``: who a bearer token belongs to and what it allows, without a database
round trip per request.

Each worker keeps what it read of a token (its expiry, revocation, scope and its holder's
grants) for at most ``ttl`` seconds (1 s by default), then reads it again. So a revoked token,
a deleted principal or a removed binding stops working on every worker within ``ttl``, and a
token used 1,000 times a second costs one small read a second per worker. Expiry is checked on
every call against the clock, not the cache. The last-used time is written when a read finds
it older than a minute: at most one write a minute per token and worker.

Refusals carry distinct reasons (``malformed``, ``tampered``, ``unknown``, ``expired``,
``revoked``) for logs and the audit trail; the message, which a client sees, is the same for
every reason, so it tells an attacker nothing.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from usina.errors import Unauthenticated
from usina.identity.credentials import MALFORMED, secret_problem
from usina.identity.permissions import ROLES, Grant, allows
from usina.store import Database
from usina.store import schema as t

UNKNOWN, EXPIRED, REVOKED = "unknown", "expired", "revoked"
REFUSED = "a valid token is needed: log in with 'usina auth login' or set USINA_TOKEN"
LAST_USED_EVERY_S = 60.0
_MAX_ENTRIES = 10_000


class TokenRefused(Unauthenticated):
    """A token that does not authenticate; ``reason`` says why, for the server's records."""

    def __init__(self, reason: str) -> None:
        super().__init__(REFUSED)
        self.reason = reason


@dataclass(frozen=True)
class Caller:
    """Who a verified token speaks for, and what it allows."""

    principal: str
    token_id: str
    expires_at: float
    scope: frozenset[str] | None
    grants: tuple[Grant, ...]

    @property
    def name(self) -> str:
        """The principal's name, recorded as the actor of its writes."""
        return self.principal.partition(":")[2]

    def allows(self, permission: str, resource: str | None = None) -> bool:
        """Whether the token's holder may use ``permission`` on ``resource``, within the
        token's scope."""
        return allows(self.grants, permission, resource, self.scope)

    def permissions(self) -> frozenset[str]:
        """Every permission this token allows somewhere (on the workspace or a resource)."""
        held: set[str] = set()
        for grant in self.grants:
            held |= grant.permissions
        return frozenset(held if self.scope is None else held & self.scope)


@dataclass(frozen=True)
class _Entry:
    caller: Caller | None  # None: no such token
    revoked: bool
    read_at: float  # time.monotonic() of the read


class TokenVerifier:
    """Verify bearer tokens against ``db``, caching each for at most ``ttl`` seconds.

    Example:
        >>> verifier = TokenVerifier(Database("sqlite://"))
        >>> verifier.verify("usina_not-a-token")
        Traceback (most recent call last):
        ...
        usina.identity.verifier.TokenRefused: a valid token is needed: ...
    """

    def __init__(
        self, db: Database, *, ttl: float = 1.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[bytes, _Entry] = {}
        self._lock = threading.Lock()

    def verify(self, secret: str) -> Caller:
        """The caller ``secret`` authenticates; ``TokenRefused`` with the reason otherwise."""
        # The hash first: a fresh cache entry under it means the secret is a stored token's,
        # so well formed; only a miss pays for the format and checksum checks.
        if not isinstance(secret, str):
            raise TokenRefused(MALFORMED)
        key = hashlib.sha256(secret.encode()).digest()  # the stored hash is its hex
        entry = self._cache.get(key)
        if entry is None or time.monotonic() - entry.read_at >= self.ttl:
            problem = secret_problem(secret)
            if problem is not None:
                raise TokenRefused(problem)
            entry = self._read(key.hex())
            with self._lock:
                if len(self._cache) >= _MAX_ENTRIES:
                    self._cache.clear()
                self._cache[key] = entry
        if entry.caller is None:
            raise TokenRefused(UNKNOWN)
        if entry.revoked:
            raise TokenRefused(REVOKED)
        if entry.caller.expires_at <= self.clock():
            raise TokenRefused(EXPIRED)
        return entry.caller

    def forget(self) -> None:
        """Drop every cached token (the next call of each reads it again)."""
        with self._lock:
            self._cache.clear()

    def _read(self, key: str) -> _Entry:
        read_at = time.monotonic()
        k, p = t.tokens, t.principals
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(k, p.c.kind, p.c.name.label("pname"))
                .join(p, p.c.id == k.c.principal_id)
                .where(k.c.secret_hash == key)
            ).first()
            if row is None:
                return _Entry(None, False, read_at)
            groups = conn.execute(
                sa.select(t.group_members.c.group_id).where(
                    t.group_members.c.member_id == row.principal_id
                )
            ).scalars()
            holders = [row.principal_id, *groups]
            bindings = conn.execute(
                sa.select(t.role_bindings.c.role, t.role_bindings.c.resource).where(
                    t.role_bindings.c.principal_id.in_(holders)
                )
            ).all()
            custom = {
                r.name: frozenset(orjson.loads(r.permissions))
                for r in conn.execute(
                    sa.select(t.roles).where(
                        t.roles.c.name.in_({b.role for b in bindings} - set(ROLES))
                    )
                )
            }
        grants = []
        for b in bindings:
            perms = ROLES[b.role].permissions if b.role in ROLES else custom.get(b.role)
            if perms:  # a binding to a deleted role grants nothing
                grants.append(Grant(perms, b.resource))
        scope = frozenset(orjson.loads(row.scope)) or None
        caller = Caller(f"{row.kind}:{row.pname}", row.id, row.expires_at, scope, tuple(grants))
        now = self.clock()
        if row.revoked_at is None and (
            row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY_S
        ):
            self._touch(row.id, now)
        return _Entry(caller, row.revoked_at is not None, read_at)

    def _touch(self, token_id: str, now: float) -> None:
        stale = sa.or_(
            t.tokens.c.last_used_at.is_(None),
            t.tokens.c.last_used_at <= now - LAST_USED_EVERY_S,
        )
        self.db.write(
            lambda conn: conn.execute(
                t.tokens.update().where(t.tokens.c.id == token_id, stale).values(last_used_at=now)
            )
        )
