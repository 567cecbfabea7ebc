"""The guard of every route, on a live server with USINA_AUTH=on: each predefined role against a
representative route of each permission, on its own resource and a foreign one; the attack
chain (upload, register, move the alias) refused without a token and with an ``inference``
one; one audit record per audited request; login brute force locked and audited; undeclared
routes refused in both modes; ``usina serve`` predictions behind tokens."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from resources.servers import ThreadServer
from resources.waiting import wait_until
from usina.artifacts import blob_key
from usina.audit import SqlAuditStore
from usina.identity import SqlIdentityStore
from usina.identity.permissions import ROLES
from usina.server import ServerConfig, create_app
from usina.store import Database

on_sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
OWN, FOREIGN = "own", "other"

# The matrix, as data. A route per permission; the principal holding each role is bound to it
# on the workspace (routes without a resource) or on the ``own`` model, endpoint and schedule
# only (routes naming one). Columns follow ROLE_ORDER. "ok" means the guard let the request
# through (the route then answers whatever the data gives: 2xx, or its own 4xx); a number is
# the exact status. A denied per-resource request answers 404 when the role holds nothing of
# that kind on the resource, 403 when it holds something there.
ROLE_ORDER = tuple(ROLES)
# fmt: off
WORKSPACE_MATRIX: list[tuple[str, str, str, str]] = [
    # permission,               method,   path,                              viewer ds  de  ml  admin inf training
    ("usina.runs.read",        "GET",    "/api/v1/runs",                    "200 200 200 200 200 403 200"),
    ("usina.runs.write",       "POST",   "/api/v1/runs",                    "403 ok  ok  ok  ok  404 ok"),
    ("usina.models.read",      "GET",    "/api/v1/models",                  "200 200 200 200 200 403 200"),
    ("usina.artifacts.read",   "GET",    "/api/v1/artifacts",               "200 200 200 200 200 403 200"),
    ("usina.artifacts.write",  "PUT",    "/api/v1/artifacts/notes/a.txt",   "403 201 201 201 201 403 201"),
    ("usina.artifacts.delete", "DELETE", "/api/v1/artifacts/notes/none",    "403 403 403 403 ok  403 403"),
    ("usina.endpoints.read",   "GET",    "/api/v1/endpoints",               "200 200 200 200 200 403 403"),
    ("usina.endpoints.write",  "POST",   "/api/v1/endpoints",               "403 403 403 ok  ok  403 403"),
    ("usina.endpoints.predict", "POST",  "/invocations",                    "403 403 403 ok  ok  ok  403"),
    ("usina.pipelines.read",   "GET",    "/api/v1/pipeline-runs",           "200 200 200 200 200 403 403"),
    ("usina.pipelines.run",    "POST",   "/api/v1/step-runs",               "403 ok  ok  ok  ok  403 403"),
    ("usina.schedules.read",   "GET",    "/api/v1/schedules",               "200 200 200 200 200 403 403"),
    ("usina.schedules.write",  "POST",   "/api/v1/schedules",               "403 403 ok  ok  ok  403 403"),
    ("usina.audit.read",       "GET",    "/api/v1/audit",                   "403 403 403 403 200 403 403"),
    ("usina.identity.read",    "GET",    "/api/v1/users",                   "403 403 403 403 200 403 403"),
    ("usina.identity.admin",   "POST",   "/api/v1/roles",                   "403 403 403 403 ok  403 403"),
]
RESOURCE_MATRIX: list[tuple[str, str, str, str]] = [
    ("usina.models.read",       "GET",   "/api/v1/models/{name}",                  "ok  ok  ok  ok  ok  404 ok"),
    ("usina.models.write",      "POST",  "/api/v1/models/{name}/versions",         "403 ok  403 ok  ok  404 ok"),
    ("usina.models.deploy",     "PUT",   "/api/v1/models/{name}/aliases/champion", "403 403 403 ok  ok  404 403"),
    ("usina.endpoints.read",    "GET",   "/api/v1/endpoints/{name}",               "ok  ok  ok  ok  ok  403 404"),
    ("usina.endpoints.write",   "PATCH", "/api/v1/endpoints/{name}",               "403 403 403 ok  ok  403 404"),
    ("usina.endpoints.predict", "POST",  "/v1/endpoints/{name}:predict",           "403 403 403 ok  ok  ok  404"),
    ("usina.schedules.read",    "GET",   "/api/v1/schedules/{name}",               "ok  ok  ok  ok  ok  404 404"),
    ("usina.schedules.write",   "POST",  "/api/v1/schedules/{name}/pause",         "403 403 ok  ok  ok  404 404"),
]
# fmt: on
ON_OWN = ("models/own", "endpoints/own", "schedules/own")


@dataclass
class Guarded:
    """A live server with USINA_AUTH=on, its database, and tokens by holder."""

    url: str
    db: Database
    app: Any
    tokens: dict[str, str]
    http: httpx.Client

    def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {self.tokens[token]}"
        return self.http.request(method, path, headers=headers, **kwargs)

    def audit(self) -> list[Any]:
        assert self.app.state.recorder.flush(), "the audit recorder did not catch up"
        return SqlAuditStore(self.db).list(limit=1000)


def _token(store: SqlIdentityStore, kind: str, name: str, role: str, *on: str) -> str:
    store.create_principal(kind, name)
    for resource in on:
        store.bind(f"{kind}:{name}", role, resource)
    return store.issue_token(f"{kind}:{name}", 3600).secret


@pytest.fixture
def guarded(db_url: str, tmp_path: Path, serve_app) -> Iterator[Guarded]:  # type: ignore[no-untyped-def]
    app = create_app(ServerConfig(db_url=db_url, artifacts=str(tmp_path / "a"), auth=True))
    url = serve_app(app)
    db = Database(db_url)
    store = SqlIdentityStore(db)
    tokens = {}
    for role in ROLES:
        tokens[f"{role}@ws"] = _token(store, "service-account", f"{role}-ws", role, "*")
        tokens[f"{role}@own"] = _token(store, "service-account", f"{role}-own", role, *ON_OWN)
    tokens["ana"] = _token(store, "user", "ana", "ml-engineer", "*")
    with httpx.Client(base_url=url) as http:
        yield Guarded(url, db, app, tokens, http)
    db.dispose()


def _passed_the_guard(response: httpx.Response) -> bool:
    if response.status_code in (401, 403):
        return False
    # The guard's own 404 says "<kind>/<name> was not found"; a route's 404 names what is
    # missing in its own words.
    return not (response.status_code == 404 and "was not found" in response.text)


def _body(method: str) -> dict[str, Any]:
    return {"json": {}} if method in ("POST", "PATCH") else {}


def _check(response: httpx.Response, expected: str, where: str) -> None:
    if expected == "ok":
        assert _passed_the_guard(response), f"{where}: refused: {response.text}"
    else:
        assert response.status_code == int(expected), f"{where}: {response.text}"


@on_sqlite
def test_permission_matrix_every_role_own_and_foreign(guarded: Guarded) -> None:
    checked = 0
    for permission, method, path, row in WORKSPACE_MATRIX:
        for role, expected in zip(ROLE_ORDER, row.split(), strict=True):
            kwargs: dict[str, Any] = {"content": b"x"} if method == "PUT" else _body(method)
            response = guarded.call(method, path, f"{role}@ws", **kwargs)
            _check(response, expected, f"{role} {permission} {method} {path}")
            checked += 1
        assert guarded.call(method, path, **_body(method)).status_code == 401, "no token"
    for permission, method, template, row in RESOURCE_MATRIX:
        for role, expected in zip(ROLE_ORDER, row.split(), strict=True):
            own = guarded.call(method, template.format(name=OWN), f"{role}@own", **_body(method))
            _check(own, expected, f"{role} {permission} {method} {template} on its own")
            foreign = guarded.call(
                method, template.format(name=FOREIGN), f"{role}@own", **_body(method)
            )
            _check(foreign, "404", f"{role} {permission} {method} {template} on a foreign one")
            # Bound on the workspace, the role reaches every resource it reaches its own.
            anywhere = guarded.call(
                method, template.format(name=FOREIGN), f"{role}@ws", **_body(method)
            )
            _check(anywhere, expected, f"{role} {permission} {method} {template} (workspace)")
            checked += 3
        assert guarded.call(method, template.format(name=OWN)).status_code == 401, "no token"
    assert checked == 7 * len(WORKSPACE_MATRIX) + 21 * len(RESOURCE_MATRIX)


def _blob(guarded: Guarded, token: str | None, data: bytes) -> httpx.Response:
    digest = hashlib.sha256(data).hexdigest()
    return guarded.call("PUT", f"/api/v1/artifacts/{blob_key(digest)}", token, content=data)


def _register(guarded: Guarded, token: str | None, data: bytes) -> httpx.Response:
    version = {
        "digest": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "format": "pickle",
        "model_class": "evil.Payload",
    }
    return guarded.call("POST", "/api/v1/models/credit/versions", token, json=version)


def _move(guarded: Guarded, token: str | None) -> httpx.Response:
    return guarded.call(
        "PUT",
        "/api/v1/models/credit/aliases/champion",
        token,
        json={"version": 1},
        headers={"X-Usina-Actor": "mallory"},
    )


@on_sqlite
def test_attack_chain_refused_without_token_and_with_inference_token(guarded: Guarded) -> None:
    payload = b"a pickle that runs code when loaded"
    guarded.tokens["inference"] = guarded.tokens["inference@ws"]
    # An inference token may not upload (403); a model is a resource it may not even see,
    # so registering a version of one or moving its alias answers 404, as for a missing one.
    for token, upload, model in ((None, 401, 401), ("inference", 403, 404)):
        assert _blob(guarded, token, payload).status_code == upload
        assert _register(guarded, token, payload).status_code == model
        assert _move(guarded, token).status_code == model
    assert guarded.call("GET", "/api/v1/artifacts", "ana").json()["items"] == [], "nothing stored"
    # The same three calls with an ml-engineer's token go through, and the alias history
    # names the token's principal, not the header's.
    assert _blob(guarded, "ana", payload).status_code == 201
    assert _register(guarded, "ana", payload).status_code == 201
    assert _move(guarded, "ana").status_code == 200
    history = guarded.call("GET", "/api/v1/models/credit/history", "ana").json()["items"]
    assert [h["actor"] for h in history] == ["ana"]


# One call of each kind: (method, path, token, body, audited?)
CALLS: list[tuple[str, str, str | None, dict[str, Any], bool]] = [
    ("GET", "/api/v1/models", "admin@ws", {}, False),  # a read: not audited by default
    ("PUT", "/api/v1/artifacts/notes/{i}.txt", "admin@ws", {"content": b"n"}, True),
    ("GET", "/api/v1/runs", None, {}, True),  # 401
    ("GET", "/api/v1/models", "inference@ws", {}, True),  # 403
    ("GET", "/api/v1/models/other", "viewer@own", {}, True),  # 404 from the guard
    ("POST", "/api/v1/runs", "data-scientist@ws", {"json": {"experiment": "e"}}, True),
    ("GET", "/healthz", None, {}, False),
    (
        "POST",
        "/api/v1/auth/login",
        None,
        {"json": {"user": "ghost{i}", "password": "x" * 12}},
        True,
    ),
    ("DELETE", "/api/v1/artifacts/notes/{i}.txt", "ml-engineer@ws", {}, True),  # 403
    ("GET", "/api/v1/auth/whoami", "viewer@ws", {}, False),
]


@on_sqlite
def test_each_audited_call_is_one_record_and_the_log_verifies(
    guarded: Guarded, db_url: str, tmp_path: Path
) -> None:
    audited = set()
    for i in range(200):
        method, path, token, body, is_audited = CALLS[i % len(CALLS)]
        request_id = f"call-{i}"
        body = {k: (v.format(i=i) if isinstance(v, str) else v) for k, v in body.items()}
        if "json" in body:
            body["json"] = {
                k: v.format(i=i) if isinstance(v, str) else v for k, v in body["json"].items()
            }
        response = guarded.call(
            method, path.format(i=i), token, headers={"X-Request-Id": request_id}, **body
        )
        assert response.headers["x-request-id"] == request_id
        if is_audited:
            audited.add(request_id)

    # The last answer can reach the client a moment before its event is queued.
    def every_one() -> list[Any] | None:
        found = guarded.audit()
        return found if audited <= {r.request_id for r in found} else None

    records = wait_until(every_one, 30, "an audit record of every audited call")
    counts = Counter(r.request_id for r in records)
    assert set(counts) == audited, "audited calls, and only those"
    assert set(counts.values()) == {1}, "exactly one record each"
    by_id = {r.request_id: r for r in records}
    assert by_id["call-1"].actor == "service-account:admin-ws"
    assert (by_id["call-1"].action, by_id["call-1"].decision) == ("usina.artifacts.write", "allow")
    assert (by_id["call-2"].actor, by_id["call-2"].status) == ("anonymous", 401)
    assert by_id["call-2"].details == {"reason": "missing"}
    assert (by_id["call-3"].decision, by_id["call-3"].status) == ("deny", 403)
    assert (by_id["call-4"].resource, by_id["call-4"].status) == ("models/other", 404)
    assert (by_id["call-7"].action, by_id["call-7"].resource) == ("auth.login", "users/ghost7")
    assert all(r.client == "127.0.0.1" for r in records)
    env = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    verify = subprocess.run(
        [sys.executable, "-m", "usina", "audit", "verify"],
        env={**env, "USINA_DB_URL": db_url, "USINA_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


@on_sqlite
def test_login_brute_force_locks_the_name_and_each_failure_is_audited(guarded: Guarded) -> None:
    SqlIdentityStore(guarded.db).create_principal("user", "bob", password="a-long-password-1")
    statuses = [
        guarded.call(
            "POST", "/api/v1/auth/login", json={"user": "bob", "password": f"wrong-guess-{i:04}"}
        ).status_code
        for i in range(8)
    ]
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429] * 3, statuses
    right = {"user": "bob", "password": "a-long-password-1"}
    assert guarded.call("POST", "/api/v1/auth/login", json=right).status_code == 429, "locked"
    # A request's audit event is queued once its answer has gone out, so the client can see
    # the answer a moment before the event is there to flush.
    logins: list[Any] = []

    def all_nine() -> bool:
        logins[:] = [r for r in guarded.audit() if r.action == "auth.login"]
        return len(logins) >= 9

    wait_until(all_nine, 30, "the audit records of the nine logins")
    assert len(logins) == 9
    assert {(r.resource, r.decision, r.actor) for r in logins} == {
        ("users/bob", "deny", "anonymous")
    }
    assert [r.status for r in reversed(logins)] == [*statuses, 429]
    assert not any("long-password" in str(r.details) for r in logins), "no secret recorded"


@pytest.mark.parametrize("auth", [False, True])
@on_sqlite
def test_an_undeclared_route_is_refused(db_url: str, tmp_path: Path, auth: bool) -> None:
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    app = create_app(
        ServerConfig(db_url=db_url, artifacts=str(tmp_path / "a"), auth=auth, serving=None)
    )
    ran: list[str] = []

    @app.get("/api/v1/forgotten")
    def forgotten() -> dict[str, str]:
        ran.append("api")
        return {"secret": "data"}

    def plain(_request: Any) -> PlainTextResponse:
        ran.append("plain")
        return PlainTextResponse("secret data")

    app.router.routes.append(Route("/forgotten-plain", plain))
    db = Database(db_url)
    admin = _token(SqlIdentityStore(db), "service-account", "root", "admin", "*")
    db.dispose()
    with ThreadServer(app) as url:
        for path in ("/api/v1/forgotten", "/forgotten-plain"):
            for headers in ({}, {"Authorization": f"Bearer {admin}"}):
                response = httpx.get(f"{url}{path}", headers=headers)
                assert response.status_code == 403, response.text
                assert "declares no permission" in response.json()["error"]["message"]
    assert ran == [], "the route never ran"


def _serving_app(db_url: str, client_factory, **config: Any) -> Any:  # type: ignore[no-untyped-def]
    """``usina serve``'s app with USINA_AUTH=on, serving the endpoint ``credit``."""
    from sklearn.linear_model import LogisticRegression

    from usina.serving import ServingConfig, SqlEndpointStore
    from usina.serving.app import create_app as create_serving_app

    client = client_factory(db_url)
    rows = [[25, 1.8], [41, 5.2], [58, 7.9], [33, 3.1]]
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["age", "income"])
    client.register_model(
        LogisticRegression().fit(frame, [1, 0, 0, 1]), "credit-risk", input_example=frame
    )
    client.set_alias("credit-risk", "champion", 1)
    SqlEndpointStore(client.db, "tester", artifacts=client.artifacts).create(
        "credit", "models:/credit-risk@champion"
    )
    settings = ServingConfig(
        poll_interval=0.2, log_flush_interval=0.2, log_file_interval=0.2, auth=True, **config
    )
    return create_serving_app(db_url, str(client.artifacts.root), settings)


@pytest.fixture
def serve_credit(db_url: str, client_factory) -> Iterator[Callable[..., str]]:  # type: ignore[no-untyped-def]
    with ThreadServer(_serving_app(db_url, client_factory)) as url:
        yield lambda: url


@on_sqlite
def test_usina_serve_predictions_need_a_token_for_the_endpoint(db_url: str, serve_credit) -> None:  # type: ignore[no-untyped-def]
    url = serve_credit()
    db = Database(db_url)
    store = SqlIdentityStore(db)
    mine = _token(store, "service-account", "scorer", "inference", "endpoints/credit")
    theirs = _token(store, "service-account", "other-scorer", "inference", "endpoints/churn")
    db.dispose()
    body = {"instances": [{"age": 30, "income": 2.0}]}
    predict = f"{url}/v1/endpoints/credit:predict"
    ok = httpx.post(predict, json=body, headers={"Authorization": f"Bearer {mine}"})
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["predictions"]) == 1
    missing = httpx.post(predict, json=body)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == 401, "the protocol's error shape"
    other = httpx.post(predict, json=body, headers={"Authorization": f"Bearer {theirs}"})
    assert other.status_code == 404, other.text
    assert httpx.get(f"{url}/v1/endpoints").status_code == 401
    assert httpx.get(f"{url}/ping").status_code == 200, "liveness is public"


@on_sqlite
@pytest.mark.parametrize("data_reads", [False, True], ids=["reads-off", "reads-on"])
def test_usina_serve_audits_refused_predictions_and_reads_when_asked(
    db_url: str, client_factory, data_reads: bool
) -> None:  # type: ignore[no-untyped-def]
    app = _serving_app(db_url, client_factory, audit_data_reads=data_reads)
    db = Database(db_url)
    mine = _token(
        SqlIdentityStore(db), "service-account", "scorer", "inference", "endpoints/credit"
    )
    body = {"instances": [{"age": 30, "income": 2.0}]}
    with ThreadServer(app) as url:
        predict = f"{url}/v1/endpoints/credit:predict"
        auth = {"Authorization": f"Bearer {mine}"}
        assert httpx.post(predict, json=body, headers={**auth, "X-Request-Id": "ok-1"}).is_success
        bad = httpx.post(predict, json={"instances": []}, headers={**auth, "X-Request-Id": "bad-1"})
        assert bad.status_code == 400
        refused = httpx.post(
            predict, json=body, headers={"X-Request-Id": "anon-1", "X-Usina-Actor": "mallory"}
        )
        assert refused.status_code == 401
        assert (
            httpx.get(f"{url}/v1/endpoints", headers={"X-Request-Id": "list-1"}).status_code == 401
        )
        assert httpx.get(f"{url}/v1/endpoints", headers=auth).status_code == 403
    # The server has stopped: its graceful stop wrote what was queued.
    records = sorted(SqlAuditStore(db).list(limit=20), key=lambda r: r.seq)
    db.dispose()
    seen = [(r.request_id, r.actor, r.action, r.decision, r.status) for r in records]
    refusals = [
        ("anon-1", "anonymous", "usina.endpoints.predict", "deny", 401),
        ("list-1", "anonymous", "usina.endpoints.read", "deny", 401),
    ]
    scorer = "service-account:scorer"
    reads = [
        ("ok-1", scorer, "usina.endpoints.predict", "allow", 200),
        ("bad-1", scorer, "usina.endpoints.predict", "allow", 400),
    ]
    denied_list = [(seen[-1][0], scorer, "usina.endpoints.read", "deny", 403)]
    assert seen == (reads if data_reads else []) + refusals + denied_list
    assert records[-3].details == {"declared_actor": "mallory", "reason": "missing"}
    assert len(seen[-1][0]) == 32, "a request id made by the server when the client sent none"


@on_sqlite
def test_with_auth_off_writes_are_audited_as_declared_and_flushed_on_stop(
    db_url: str, tmp_path: Path
) -> None:
    app = create_app(ServerConfig(db_url=db_url, artifacts=str(tmp_path / "a"), serving=None))
    with ThreadServer(app) as url:
        headers = {"X-Usina-Actor": "ana", "X-Request-Id": "put-1"}
        stored = httpx.put(f"{url}/api/v1/artifacts/notes/a.txt", content=b"a", headers=headers)
        assert stored.status_code == 201, "no token needed with auth off"
        assert httpx.get(f"{url}/api/v1/models").status_code == 200
        metrics = httpx.get(f"{url}/metrics").text
        assert "usina_audit_records_written_total" in metrics
        assert "usina_audit_records_dropped_total" in metrics
    # The server has stopped: its graceful stop wrote what was queued.
    db = Database(db_url)
    records = SqlAuditStore(db).list(limit=10)
    db.dispose()
    assert [(r.request_id, r.actor, r.action, r.details) for r in records] == [
        ("put-1", "anonymous", "usina.artifacts.write", {"declared_actor": "ana"})
    ]
