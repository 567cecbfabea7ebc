"""The identity store contract: principals, roles, bindings, tokens and logins."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from usina.errors import Conflict, InvalidInput, NotFound, TooManyAttempts, Unauthenticated
from usina.identity.permissions import ROLES
from usina.testing.tracking import expect_error

PREDEFINED = list(ROLES)
PASSWORD = "a long enough passphrase"
DAY = 86_400


def check_identity_store(make_client: Callable[[], Any]) -> None:
    """Assert that ``make_client().identity`` keeps the ``IdentityStore`` contract.

    The installation may already hold the principal the client acts as (a server's admin);
    every name the suite makes starts with ``conf-``, and lists are compared on those.
    """
    store = make_client().identity
    _check_roles(store)
    _check_principals(store)
    _check_bindings(store)
    _check_tokens(store)
    _check_logins(store)
    _check_deletes(store)


def _check_roles(store: Any) -> None:
    roles = store.list_roles()
    assert [r.name for r in roles][:7] == PREDEFINED, "the predefined roles come first"
    viewer = store.get_role("viewer")
    assert viewer.predefined and "usina.models.read" in viewer.permissions
    assert "usina.models.deploy" not in viewer.permissions
    assert store.get_role("inference").permissions == ("usina.endpoints.predict",)

    custom = store.create_role(
        "conf-deployer",
        ["usina.models.deploy", "usina.models.read", "usina.models.read"],
        "moves aliases",
    )
    assert custom.permissions == ("usina.models.deploy", "usina.models.read"), "sorted, unique"
    assert not custom.predefined and custom.description == "moves aliases"
    assert store.get_role("conf-deployer") == custom
    assert [r.name for r in store.list_roles()][7:] == ["conf-deployer"]
    expect_error(Conflict, lambda: store.create_role("conf-deployer", ["usina.runs.read"]), "name")
    expect_error(Conflict, lambda: store.create_role("admin", ["usina.runs.read"]), "name")
    expect_error(
        InvalidInput, lambda: store.create_role("conf-x", ["usina.models.fly"]), "permissions"
    )
    expect_error(InvalidInput, lambda: store.create_role("conf-x", []), "permissions")
    expect_error(InvalidInput, lambda: store.create_role("bad name!", ["usina.runs.read"]), "name")
    expect_error(InvalidInput, lambda: store.delete_role("viewer"), "name")
    expect_error(NotFound, lambda: store.get_role("conf-absent"), "name")


def _ours(principals: list[Any]) -> list[Any]:
    return [p for p in principals if p.name.startswith("conf-")]


def _check_principals(store: Any) -> None:
    ana = store.create_principal("user", "conf-ana", password=PASSWORD, description="analyst")
    assert (ana.kind, ana.name, ana.ref, ana.has_password) == (
        "user",
        "conf-ana",
        "user:conf-ana",
        True,
    )
    assert ana.description == "analyst" and ana.members == ()
    assert not store.create_principal("user", "conf-bo").has_password, "a password is optional"
    trainer = store.create_principal("service-account", "conf-trainer")
    assert trainer.ref == "service-account:conf-trainer" and not trainer.has_password
    team = store.create_principal(
        "group", "conf-team", members=["user:conf-ana", "service-account:conf-trainer"]
    )
    assert team.members == ("service-account:conf-trainer", "user:conf-ana")
    assert store.get_principal("group:conf-team") == team

    expect_error(
        InvalidInput, lambda: store.create_principal("user", "conf-c", password="short"), "password"
    )
    expect_error(
        InvalidInput,
        lambda: store.create_principal("service-account", "conf-c", password=PASSWORD),
        "password",
    )
    expect_error(InvalidInput, lambda: store.create_principal("user", "bad name!"), "name")
    expect_error(InvalidInput, lambda: store.create_principal("robot", "conf-c"), "kind")
    expect_error(Conflict, lambda: store.create_principal("user", "conf-ana"), "name")
    expect_error(
        InvalidInput,
        lambda: store.create_principal("group", "conf-g", members=["group:conf-team"]),
        "members",
    )
    expect_error(
        NotFound,
        lambda: store.create_principal("group", "conf-g", members=["user:conf-ghost"]),
        "members",
    )
    expect_error(NotFound, lambda: store.get_principal("user:conf-ghost"), "name")
    expect_error(InvalidInput, lambda: store.get_principal("conf-ana"), "principal")
    assert [p.ref for p in _ours(store.list_principals())] == [
        "group:conf-team",
        "service-account:conf-trainer",
        "user:conf-ana",
        "user:conf-bo",
    ], "by kind, then name"
    assert [p.name for p in _ours(store.list_principals("user"))] == ["conf-ana", "conf-bo"]

    changed = store.set_members(
        "conf-team", add=["user:conf-bo"], remove=["service-account:conf-trainer"]
    )
    assert changed.members == ("user:conf-ana", "user:conf-bo")
    expect_error(NotFound, lambda: store.set_members("conf-ghost", add=["user:conf-bo"]), "group")
    expect_error(InvalidInput, lambda: store.set_members("conf-team", add=["bo"]), "add")

    expect_error(InvalidInput, lambda: store.set_password("conf-bo", "short"), "password")
    store.set_password("conf-bo", PASSWORD + " two")
    assert store.get_principal("user:conf-bo").has_password


def _check_bindings(store: Any) -> None:
    first = store.bind("user:conf-ana", "viewer")
    assert (first.principal, first.role, first.resource) == ("user:conf-ana", "viewer", "*")
    on_model = store.bind("group:conf-team", "conf-deployer", "models/conf-credit")
    assert on_model.resource == "models/conf-credit" and on_model.id != first.id
    expect_error(Conflict, lambda: store.bind("user:conf-ana", "viewer"), "role")
    expect_error(NotFound, lambda: store.bind("user:conf-ana", "conf-absent"), "role")
    expect_error(NotFound, lambda: store.bind("user:conf-ghost", "viewer"), "principal")
    expect_error(InvalidInput, lambda: store.bind("user:conf-ana", "viewer", "models"), "resource")
    expect_error(
        InvalidInput, lambda: store.bind("user:conf-ana", "viewer", "planets/x"), "resource"
    )
    assert store.list_bindings("user:conf-ana") == [first]
    assert store.list_bindings(resource="models/conf-credit") == [on_model]
    expect_error(Conflict, lambda: store.delete_role("conf-deployer"), "name")
    store.unbind(on_model.id)
    assert store.list_bindings(resource="models/conf-credit") == []
    expect_error(NotFound, lambda: store.unbind(on_model.id), "binding_id")
    expect_error(InvalidInput, lambda: store.unbind(0), "binding_id")
    store.delete_role("conf-deployer")
    expect_error(NotFound, lambda: store.get_role("conf-deployer"), "name")


def _check_tokens(store: Any) -> None:
    before = time.time()
    issued = store.issue_token(
        "service-account:conf-trainer", 3600, ["usina.endpoints.predict"], name="conf-ci"
    )
    token = issued.token
    assert issued.secret.startswith("usina_") and len(issued.secret) > 40
    assert token.principal == "service-account:conf-trainer" and token.name == "conf-ci"
    assert token.scope == ("usina.endpoints.predict",)
    assert before - 5 <= token.created_at and abs(token.expires_at - token.created_at - 3600) < 1
    assert token.revoked_at is None and token.last_used_at is None
    listed = store.list_tokens("service-account:conf-trainer")
    assert listed == [token], "listed without the secret"
    assert issued.secret not in repr(listed)
    assert token in store.list_tokens()

    expect_error(InvalidInput, lambda: store.issue_token("user:conf-ana", 3650 * DAY), "expires_in")
    expect_error(InvalidInput, lambda: store.issue_token("user:conf-ana", 0), "expires_in")
    expect_error(
        InvalidInput, lambda: store.issue_token("user:conf-ana", 60, ["usina.all"]), "scope"
    )
    expect_error(InvalidInput, lambda: store.issue_token("group:conf-team", 60), "principal")
    expect_error(NotFound, lambda: store.issue_token("user:conf-ghost", 60), "principal")

    revoked = store.revoke_token(token.id)
    assert revoked.revoked_at is not None and revoked.id == token.id
    assert store.revoke_token(token.id).revoked_at == revoked.revoked_at, "revoking is idempotent"
    expect_error(NotFound, lambda: store.revoke_token("0" * 16), "token_id")
    expect_error(InvalidInput, lambda: store.revoke_token("nope"), "token_id")


def _check_logins(store: Any) -> None:
    issued = store.login("conf-ana", PASSWORD, expires_in=600)
    assert issued.token.principal == "user:conf-ana" and issued.token.name == "login"
    assert abs(issued.token.expires_at - issued.token.created_at - 600) < 1
    scoped = store.login("user:conf-ana", PASSWORD, scope=["usina.models.read"])
    assert scoped.token.scope == ("usina.models.read",)
    wrong = expect_error(Unauthenticated, lambda: store.login("conf-ana", PASSWORD + "x"))
    unknown = expect_error(Unauthenticated, lambda: store.login("conf-ghost", PASSWORD))
    assert str(wrong) == str(unknown), "the answer does not tell which names exist"
    expect_error(
        InvalidInput, lambda: store.login("service-account:conf-trainer", PASSWORD), "user"
    )
    expect_error(InvalidInput, lambda: store.login("conf-ana", PASSWORD, 3650 * DAY), "expires_in")

    # Five failures lock the name: even the right password is refused until the lockout ends.
    store.create_principal("user", "conf-locked", password=PASSWORD)
    for _ in range(5):
        expect_error(Unauthenticated, lambda: store.login("conf-locked", "wrong password!!"))
    locked = expect_error(TooManyAttempts, lambda: store.login("conf-locked", PASSWORD))
    assert "try again" in str(locked)
    assert store.login("conf-ana", PASSWORD).token.principal == "user:conf-ana", "per name"


def _check_deletes(store: Any) -> None:
    store.issue_token("user:conf-ana", 60)
    store.delete_principal("user:conf-ana")
    expect_error(NotFound, lambda: store.get_principal("user:conf-ana"), "name")
    assert store.list_bindings("user:conf-bo") == []
    assert store.list_tokens("user:conf-bo") == []
    assert not [t for t in store.list_tokens() if t.principal == "user:conf-ana"]
    assert store.get_principal("group:conf-team").members == ("user:conf-bo",)
    expect_error(NotFound, lambda: store.delete_principal("user:conf-ana"), "name")
