"""Tokens as a user relies on them: never stored in clear, refused when expired, revoked,
tampered, unknown or out of scope, and a revoke seen by every worker within a second; and
logins locked after repeated failures, for every worker, until the lockout ends."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from resources.waiting import wait_until
from usina.errors import TooManyAttempts, Unauthenticated
from usina.identity import SqlIdentityStore, TokenRefused, TokenVerifier
from usina.identity.credentials import new_token_secret, secret_hash
from usina.store import Database
from usina.store import schema as t

PASSWORD = "a long enough passphrase"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def store(db: Database) -> SqlIdentityStore:
    s = SqlIdentityStore(db)
    s.create_principal("user", "ana", password=PASSWORD)
    s.bind("user:ana", "ml-engineer")
    s.create_principal("service-account", "scorer")
    s.bind("service-account:scorer", "viewer")
    return s


def refusal(verifier: TokenVerifier, secret: str) -> str | None:
    try:
        verifier.verify(secret)
    except TokenRefused as exc:
        return exc.reason
    return None


def test_tokens_are_never_stored_in_clear(store: SqlIdentityStore, db: Database) -> None:
    secrets = [
        store.issue_token("service-account:scorer", 3600, name="ci").secret,
        store.login("ana", PASSWORD).secret,
    ]
    # Every value of every table: the secrets (or their random part) appear nowhere, only
    # their SHA-256 does, and the password only as an argon2id hash.
    stored = []
    with db.engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                stored += [str(v) for v in row]
    text = "\n".join(stored)
    for secret in secrets:
        assert secret not in text and secret[6:-8] not in text
        assert secret_hash(secret) in stored
    assert PASSWORD not in text
    assert any(v.startswith("$argon2id$") for v in stored)


def test_verifier_refuses_expired_revoked_tampered_unknown(
    store: SqlIdentityStore, db: Database
) -> None:
    now = [time.time()]
    verifier = TokenVerifier(db, clock=lambda: now[0])
    issued = store.issue_token("user:ana", 60)
    caller = verifier.verify(issued.secret)
    assert caller.principal == "user:ana" and caller.name == "ana"

    now[0] += 61
    assert refusal(verifier, issued.secret) == "expired"

    body = issued.secret[6:-8]
    flipped = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    assert refusal(verifier, f"usina_{flipped}{issued.secret[-8:]}") == "tampered"
    assert refusal(verifier, new_token_secret()) == "unknown"
    assert refusal(verifier, "hello") == "malformed"
    assert refusal(verifier, issued.secret + "x") == "malformed"

    other = store.issue_token("user:ana", 3600)
    store.revoke_token(other.token.id)
    assert refusal(TokenVerifier(db), other.secret) == "revoked"

    # The message a client sees is the same for every reason.
    messages = set()
    for secret in (issued.secret, other.secret, new_token_secret(), "hello"):
        try:
            verifier.verify(secret)
        except Unauthenticated as exc:
            messages.add(str(exc))
    assert len(messages) == 1


def test_scope_narrows_and_never_widens(store: SqlIdentityStore, db: Database) -> None:
    verifier = TokenVerifier(db)
    full = verifier.verify(store.issue_token("user:ana", 600).secret)
    assert full.allows("usina.models.deploy") and full.allows("usina.endpoints.predict")
    assert not full.allows("usina.identity.admin"), "ml-engineer is no admin"

    predict = verifier.verify(
        store.issue_token("user:ana", 600, ["usina.endpoints.predict"]).secret
    )
    assert predict.allows("usina.endpoints.predict")
    assert not predict.allows("usina.models.deploy"), "out of the token's scope"
    assert not predict.allows("usina.models.read")
    assert predict.permissions() == {"usina.endpoints.predict"}

    # A viewer's token scoped to a permission the viewer lacks allows nothing.
    viewer = verifier.verify(
        store.issue_token("service-account:scorer", 600, ["usina.models.deploy"]).secret
    )
    assert not viewer.allows("usina.models.deploy") and viewer.permissions() == frozenset()


def test_bindings_on_one_resource_and_through_groups(store: SqlIdentityStore, db: Database) -> None:
    store.create_principal("service-account", "deployer")
    store.create_principal("group", "release", members=["service-account:deployer"])
    store.bind("group:release", "ml-engineer", "models/credit")
    caller = TokenVerifier(db).verify(store.issue_token("service-account:deployer", 600).secret)
    assert caller.allows("usina.models.deploy", "models/credit"), "through the group"
    assert not caller.allows("usina.models.deploy", "models/churn")
    assert not caller.allows("usina.models.deploy"), "a resource grant is not workspace-wide"


def test_revoke_reaches_a_second_worker_within_a_second(
    store: SqlIdentityStore, db_url: str
) -> None:
    # Two workers: each its own database connection pool and cache.
    workers = [Database(db_url), Database(db_url)]
    try:
        first, second = (TokenVerifier(w) for w in workers)
        issued = store.issue_token("service-account:scorer", 3600)
        assert first.verify(issued.secret) and second.verify(issued.secret)
        store.revoke_token(issued.token.id)
        revoked_at = time.monotonic()
        for verifier in (first, second):
            wait_until(
                lambda v=verifier: refusal(v, issued.secret) == "revoked",  # type: ignore[misc]
                timeout=5,
                message="the revoked token to be refused",
                interval=0.02,
            )
        assert time.monotonic() - revoked_at < 1.5, "refused within the 1 s cache bound"
    finally:
        for w in workers:
            w.dispose()


def test_a_cached_token_costs_no_query(store: SqlIdentityStore, db_url: str) -> None:
    worker = Database(db_url)
    try:
        verifier = TokenVerifier(worker, ttl=60)
        secret = store.issue_token("service-account:scorer", 3600).secret
        verifier.verify(secret)
        statements: list[str] = []
        sa.event.listen(worker.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        for _ in range(1000):
            verifier.verify(secret)
        assert statements == []
    finally:
        worker.dispose()


def test_last_used_is_written_at_most_once_a_minute(store: SqlIdentityStore, db: Database) -> None:
    now = [time.time()]
    verifier = TokenVerifier(db, clock=lambda: now[0])
    issued = store.issue_token("service-account:scorer", 3600)
    verifier.verify(issued.secret)
    first = store.get_token(issued.token.id).last_used_at
    assert first == now[0]
    now[0] += 30
    verifier.forget()
    verifier.verify(issued.secret)
    assert store.get_token(issued.token.id).last_used_at == first, "not again within a minute"
    now[0] += 31
    verifier.forget()
    verifier.verify(issued.secret)
    assert store.get_token(issued.token.id).last_used_at == now[0]


def test_lockout_after_failures_is_seen_by_every_worker_and_ends(db_url: str) -> None:
    workers = [Database(db_url), Database(db_url)]
    try:
        one, two = (SqlIdentityStore(w, lockout_s=1.0) for w in workers)
        one.create_principal("user", "bo", password=PASSWORD)
        for attempt in range(5):
            store = one if attempt % 2 else two  # failures on either worker count
            with pytest.raises(Unauthenticated) as caught:
                store.login("bo", "not the password")
            assert not isinstance(caught.value, TooManyAttempts)
        for store in (one, two):
            with pytest.raises(TooManyAttempts, match="try again in"):
                store.login("bo", PASSWORD)
        issued = wait_until(
            lambda: _login_or_none(two, "bo"), timeout=5, message="the lockout to end"
        )
        assert issued.token.principal == "user:bo"
        # A success clears the count: four more failures do not lock.
        for _ in range(4):
            with pytest.raises(Unauthenticated):
                one.login("bo", "not the password")
        assert one.login("bo", PASSWORD)
    finally:
        for w in workers:
            w.dispose()


def _login_or_none(store: SqlIdentityStore, user: str):  # type: ignore[no-untyped-def]
    try:
        return store.login(user, PASSWORD)
    except TooManyAttempts:
        return None
