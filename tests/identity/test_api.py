"""The identity routes over HTTP: a token is needed and checked, logins lock after failures,
the bootstrap token works once, a scoped token cannot widen itself, and bad input names its
field."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from usina.server import ServerConfig, create_app

on_sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
PASSWORD = "a long enough passphrase"
BOOTSTRAP = "b" * 40


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def error(response: httpx.Response, status: int, code: str, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    if field is not None:
        assert body["field"] == field, body
    return str(body["message"])


@pytest.fixture
def api(live_server) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=live_server.url + "/api/v1") as http:
        yield http


@pytest.fixture
def admin(admin_token: str) -> dict[str, str]:
    return bearer(admin_token)


def _user(api: httpx.Client, admin: dict[str, str], name: str, role: str | None) -> str:
    """A user holding ``role`` on the workspace; answers a token of theirs."""
    api.post("/users", json={"name": name, "password": PASSWORD}, headers=admin).raise_for_status()
    if role:
        binding = {"principal": f"user:{name}", "role": role}
        api.post("/bindings", json=binding, headers=admin).raise_for_status()
    login = api.post("/auth/login", json={"user": name, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return str(login.json()["secret"])


@on_sqlite
def test_identity_routes_need_a_valid_token(api: httpx.Client, admin_token: str) -> None:
    first = error(api.get("/users"), 401, "unauthenticated")
    tampered = admin_token[:-9] + ("0" if admin_token[-9] != "0" else "1") + admin_token[-8:]
    assert error(api.get("/users", headers=bearer(tampered)), 401, "unauthenticated") == first
    assert error(api.get("/users", headers=bearer("usina_x")), 401, "unauthenticated") == first
    basic = {"Authorization": "Basic YWRtaW46YWRtaW4="}
    assert error(api.get("/users", headers=basic), 401, "unauthenticated") == first
    assert api.get("/users", headers=bearer(admin_token)).status_code == 200


@on_sqlite
def test_roles_decide_what_a_caller_may_do(api: httpx.Client, admin: dict[str, str]) -> None:
    viewer = bearer(_user(api, admin, "vera", "viewer"))
    message = error(api.get("/users", headers=viewer), 403, "permission_denied")
    assert "usina.identity.read" in message
    new_user = {"name": "mallory", "password": PASSWORD}
    error(api.post("/users", json=new_user, headers=viewer), 403, "permission_denied")
    grant = {"principal": "user:vera", "role": "admin"}
    error(api.post("/bindings", json=grant, headers=viewer), 403, "permission_denied")

    me = api.get("/auth/whoami", headers=viewer).json()
    assert me["principal"] == "user:vera" and me["scope"] is None
    assert "usina.models.read" in me["permissions"]
    assert "usina.models.deploy" not in me["permissions"]

    # One's own password and tokens, yes; another's, no.
    other = _user(api, admin, "otto", None)
    assert other
    change = {"password": PASSWORD + " new"}
    assert api.put("/users/vera/password", json=change, headers=viewer).status_code == 204
    error(api.put("/users/otto/password", json=change, headers=viewer), 403, "permission_denied")
    made = api.post("/tokens", json={"expires_in": 600}, headers=viewer)
    assert made.status_code == 201 and made.json()["token"]["principal"] == "user:vera"
    error(
        api.post("/tokens", json={"principal": "user:otto", "expires_in": 60}, headers=viewer),
        403,
        "permission_denied",
    )
    own = api.get("/tokens", params={"principal": "user:vera"}, headers=viewer)
    assert own.status_code == 200 and len(own.json()["items"]) == 2  # login and the new one
    assert all("secret" not in t for t in own.json()["items"])
    error(api.get("/tokens", headers=viewer), 403, "permission_denied")
    otto_token = api.get("/tokens", params={"principal": "user:otto"}, headers=admin).json()
    revoke = f"/tokens/{otto_token['items'][0]['id']}/revoke"
    error(api.post(revoke, headers=viewer), 403, "permission_denied")
    assert api.post(revoke, headers=admin).json()["revoked_at"] is not None


@on_sqlite
def test_a_scoped_token_cannot_widen_itself(api: httpx.Client, admin: dict[str, str]) -> None:
    _user(api, admin, "ida", "admin")
    login = {"user": "ida", "password": PASSWORD, "scope": ["usina.models.read"]}
    scoped = bearer(api.post("/auth/login", json=login).json()["secret"])
    error(api.get("/users", headers=scoped), 403, "permission_denied")
    wider = {"expires_in": 600, "scope": ["usina.identity.admin"]}
    error(api.post("/tokens", json=wider, headers=scoped), 403, "permission_denied")
    child = api.post("/tokens", json={"expires_in": 600}, headers=scoped).json()
    assert child["token"]["scope"] == ["usina.models.read"], "inherits the scope"
    change = {"password": PASSWORD + " new"}
    error(api.put("/users/ida/password", json=change, headers=scoped), 403, "permission_denied")


@on_sqlite
def test_logins_lock_after_failures(api: httpx.Client, admin: dict[str, str]) -> None:
    _user(api, admin, "lu", "viewer")
    wrong = {"user": "lu", "password": "not the password"}
    messages = {
        error(api.post("/auth/login", json=wrong), 401, "unauthenticated") for _ in range(5)
    }
    ghost = {"user": "nobody", "password": PASSWORD}
    assert messages == {error(api.post("/auth/login", json=ghost), 401, "unauthenticated")}
    right = {"user": "lu", "password": PASSWORD}
    assert "try again" in error(api.post("/auth/login", json=right), 429, "too_many_attempts")


@on_sqlite
def test_bad_input_names_the_field(api: httpx.Client, admin: dict[str, str]) -> None:
    short = {"name": "sam", "password": "short"}
    assert "12" in error(
        api.post("/users", json=short, headers=admin), 400, "invalid_input", "password"
    )
    error(
        api.post("/users", json={"name": "bad name!"}, headers=admin), 400, "invalid_input", "name"
    )
    error(
        api.post("/users", json={"name": "sam", "role": "admin"}, headers=admin),
        422,
        "invalid_input",
        "role",
    )
    binding = {"principal": "service-account:root", "role": "viewer", "resource": "models"}
    error(api.post("/bindings", json=binding, headers=admin), 400, "invalid_input", "resource")
    binding = {"principal": "root", "role": "viewer"}
    error(api.post("/bindings", json=binding, headers=admin), 400, "invalid_input", "principal")
    too_long = {"expires_in": 91 * 86400}
    message = error(
        api.post("/tokens", json=too_long, headers=admin), 400, "invalid_input", "expires_in"
    )
    assert "90 days" in message and "USINA_TOKEN_MAX_DAYS" in message
    error(
        api.post("/tokens", json={"expires_in": 60, "scope": ["usina.x.y"]}, headers=admin),
        400,
        "invalid_input",
        "scope",
    )
    error(api.post("/tokens", json={}, headers=admin), 422, "invalid_input", "expires_in")
    error(
        api.post("/roles", json={"name": "r", "permissions": ["nope"]}, headers=admin),
        400,
        "invalid_input",
        "permissions",
    )
    error(api.post("/tokens/xyz/revoke", headers=admin), 400, "invalid_input", "token_id")
    error(api.get("/users/ghost", headers=admin), 404, "not_found", "name")


def test_the_bootstrap_token_makes_one_admin_once(
    tmp_path,
    serve_app,  # type: ignore[no-untyped-def]
) -> None:
    config = ServerConfig(
        db_url=f"sqlite:///{tmp_path / 'usina.db'}",
        artifacts=str(tmp_path / "artifacts"),
        bootstrap_token=BOOTSTRAP,
        token_max_days=7,
    )
    url = serve_app(create_app(config))
    with httpx.Client(base_url=url + "/api/v1") as api:
        body = {"bootstrap_token": "c" * 40, "user": "first", "password": PASSWORD}
        error(api.post("/auth/bootstrap", json=body), 401, "unauthenticated")
        body["bootstrap_token"] = BOOTSTRAP
        made = api.post("/auth/bootstrap", json=body)
        assert made.status_code == 201, made.text
        admin = bearer(made.json()["secret"])
        users = api.get("/users", headers=admin).json()["items"]
        assert [u["name"] for u in users] == ["first"]
        body["user"] = "second"
        assert "already" in error(api.post("/auth/bootstrap", json=body), 401, "unauthenticated")
        # The server's own maximum lifetime applies.
        too_long = {"expires_in": 8 * 86400}
        assert "7 days" in error(
            api.post("/tokens", json=too_long, headers=admin), 400, "invalid_input"
        )


def test_a_server_without_a_bootstrap_token_refuses_the_exchange(
    tmp_path,
    serve_app,  # type: ignore[no-untyped-def]
) -> None:
    config = ServerConfig(db_url=f"sqlite:///{tmp_path / 'u.db'}", artifacts=str(tmp_path / "a"))
    with httpx.Client(base_url=serve_app(create_app(config)) + "/api/v1") as api:
        body = {"bootstrap_token": BOOTSTRAP, "user": "first", "password": PASSWORD}
        error(api.post("/auth/bootstrap", json=body), 401, "unauthenticated")
