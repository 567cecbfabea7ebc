"""The permission catalogue covers every route of ``usina server`` and ``usina serve``, the
predefined roles are what the docs say, and a decision reads bindings as documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from resources.routes import app_routes
from usina.identity.permissions import (
    AUTHENTICATED,
    METRICS,
    PERMISSIONS,
    PUBLIC,
    ROLES,
    ROUTES,
    Grant,
    allows,
)

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def every_route(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    from usina.server import ServerConfig, create_app
    from usina.serving.app import create_app as create_serving_app

    tmp = tmp_path_factory.mktemp("apps")
    db, artifacts = f"sqlite:///{tmp / 'usina.db'}", str(tmp / "artifacts")
    return app_routes(create_app(ServerConfig(db_url=db, artifacts=artifacts))) | app_routes(
        create_serving_app(db, artifacts)
    )


def test_every_route_declares_a_permission_or_is_public(every_route: set[Any]) -> None:
    known = set(ROUTES) | PUBLIC | AUTHENTICATED | {METRICS}
    undeclared = sorted(every_route - known)
    assert undeclared == [], "add these routes to usina.identity.permissions.ROUTES"
    stale = sorted(known - every_route)
    assert stale == [], "these declared routes no longer exist"
    assert not (set(ROUTES) & PUBLIC) and not (set(ROUTES) & AUTHENTICATED)


def test_every_permission_is_used_and_tagged() -> None:
    used = {rule.permission for rule in ROUTES.values()}
    assert set(PERMISSIONS) - used <= {"usina.logs.read", "usina.audit.read"}, (
        "logs and audit routes come with their features; every other permission guards a route"
    )
    for p in PERMISSIONS.values():
        assert re.fullmatch(r"usina\.[a-z]+\.[a-z]+", p.name)
        assert p.audit_class in ("admin_write", "data_read", "data_write", "secret_read")


def test_predefined_roles() -> None:
    assert list(ROLES) == [
        "viewer",
        "data-scientist",
        "data-engineer",
        "ml-engineer",
        "admin",
        "inference",
        "training",
    ]
    assert ROLES["admin"].permissions == set(PERMISSIONS)
    assert ROLES["inference"].permissions == {"usina.endpoints.predict"}
    training = ROLES["training"].permissions
    assert {"usina.runs.write", "usina.artifacts.write", "usina.models.write"} <= training
    assert "usina.models.deploy" not in training, "training moves no alias"
    for name, role in ROLES.items():
        if name != "admin":
            assert not role.permissions & {"usina.identity.admin", "usina.artifacts.delete"}
        if name not in ("admin", "ml-engineer"):
            assert "usina.models.deploy" not in role.permissions


def test_allows_reads_workspace_resource_and_scope() -> None:
    grants = [
        Grant(ROLES["viewer"].permissions),
        Grant(ROLES["ml-engineer"].permissions, "models/a"),
    ]
    assert allows(grants, "usina.models.read", "models/b")
    assert allows(grants, "usina.models.deploy", "models/a")
    assert not allows(grants, "usina.models.deploy", "models/b")
    assert not allows(grants, "usina.models.deploy"), "no workspace-wide form from a resource"
    assert not allows(grants, "usina.models.read", "models/b", frozenset({"usina.runs.read"}))
    assert not allows([Grant(frozenset({"usina.made.up"}))], "usina.made.up"), "fail closed"
    assert not allows([], "usina.models.read")


def role_table() -> str:
    """The Markdown table of docs/security.md: each permission, its class, and the roles."""
    names = list(ROLES)
    lines = [
        "| permission | audit class | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for p in PERMISSIONS.values():
        marks = ["✓" if p.name in ROLES[n].permissions else "" for n in names]
        lines.append(f"| `{p.name}` | {p.audit_class} | " + " | ".join(marks) + " |")
    return "\n".join(lines)


def test_docs_show_each_role_as_the_code_defines_it() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    assert role_table() in text, (
        "docs/security.md's role table differs from usina.identity.permissions; paste:\n"
        + role_table()
    )
