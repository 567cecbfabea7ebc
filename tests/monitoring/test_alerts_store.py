"""Alert state shared by many observers: one notification per breach whoever observes it at
once; the routes need their permissions; the settings reach the channels."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from usina.identity import SqlIdentityStore
from usina.monitoring.alerts import NoticeKind, Observation, Outcome
from usina.monitoring.sql import SqlAlertStore
from usina.store import Database

OBSERVERS = 8


def observe_at_once(db_url: str, observation: Observation) -> list[Outcome]:
    """``OBSERVERS`` threads, each with its own connections, observe at the same moment."""
    dbs = [Database(db_url) for _ in range(OBSERVERS)]
    dbs[0].migrate()
    barrier = threading.Barrier(OBSERVERS)
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []

    def observe(db: Database) -> None:
        try:
            barrier.wait(timeout=60)
            outcomes.append(SqlAlertStore(db).observe(observation))
        except Exception as exc:  # noqa: BLE001 - reported below, with the test's failure
            errors.append(exc)

    threads = [threading.Thread(target=observe, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for db in dbs:
        db.dispose()
    assert errors == [] and len(outcomes) == OBSERVERS, errors[:1]
    return outcomes


def test_many_observers_of_one_breach_send_one_notification(db_url: str) -> None:
    breach = Observation("drift", "psi", True, 0.3, 0.2, channels=("log:",), time=1000.0)
    outcomes = observe_at_once(db_url, breach)
    notices = [o.notice for o in outcomes if o.notice is not None]
    assert [n.kind for n in notices] == [NoticeKind.FIRING], "one opens it, the rest are repeats"
    assert len({o.alert.id for o in outcomes if o.alert is not None}) == 1

    cleared = Observation("drift", "psi", False, 0.1, 0.2, channels=("log:",), time=1010.0)
    outcomes = observe_at_once(db_url, cleared)
    notices = [o.notice for o in outcomes if o.notice is not None]
    assert [n.kind for n in notices] == [NoticeKind.RESOLVED], "one resolves it"

    db = Database(db_url)
    [alert] = SqlAlertStore(db).list()
    db.dispose()
    assert (alert.state, alert.notifications) == ("resolved", 2)
    assert [d.notification for d in alert.deliveries] == [1, 2]


@pytest.fixture
def tokens(sqlite_url: str) -> Iterator[dict[str, str]]:
    """Tokens of a viewer, a data engineer and an inference service on ``sqlite_url``."""
    db = Database(sqlite_url)
    store = SqlIdentityStore(db)
    found = {}
    for name, role in (("vera", "viewer"), ("dana", "data-engineer"), ("ivo", "inference")):
        store.create_principal("service-account", name)
        store.bind(f"service-account:{name}", role)
        found[role] = store.issue_token(f"service-account:{name}", 3600).secret
    yield found
    db.dispose()


def test_alert_routes_need_their_permissions(
    sqlite_url: str,
    tmp_path,  # type: ignore[no-untyped-def]
    serve_app,  # type: ignore[no-untyped-def]
    tokens: dict[str, str],
) -> None:
    from usina.server import ServerConfig, create_app

    app = create_app(ServerConfig(sqlite_url, str(tmp_path / "artifacts"), auth=True))
    url = serve_app(app) + "/api/v1"
    breach = {"monitor": "drift", "check": "psi", "breached": True, "channels": ["log:"]}

    def call(role: str | None, method: str, path: str, **kwargs: object) -> int:
        headers = {"authorization": f"Bearer {tokens[role]}"} if role else {}
        return httpx.request(method, url + path, headers=headers, **kwargs).status_code  # type: ignore[arg-type]

    assert call(None, "GET", "/alerts") == 401
    assert call("inference", "GET", "/alerts") == 403
    assert call("viewer", "POST", "/alerts/observations", json=breach) == 403
    assert call("data-engineer", "POST", "/alerts/observations", json=breach) == 200
    assert call("viewer", "GET", "/alerts") == 200 and call("viewer", "GET", "/alerts/1") == 200
    results = {"notification": 1, "results": [{"channel": "log:", "ok": True, "attempts": 1}]}
    assert call("viewer", "POST", "/alerts/1/deliveries", json=results) == 403
    assert call("data-engineer", "POST", "/alerts/1/deliveries", json=results) == 200


def test_settings_reach_the_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    from usina.monitoring.alerter import Alerter
    from usina.monitoring.channels import DeliveryConfig
    from usina.settings import Settings

    for name, value in {
        "USINA_SMTP_HOST": "smtp.example.com",
        "USINA_SMTP_PORT": "2525",
        "USINA_SMTP_USER": "alerts",
        "USINA_SMTP_PASSWORD": "pw-from-settings",
        "USINA_SMTP_FROM": "usina@example.com",
        "USINA_SMTP_STARTTLS": "false",
        "USINA_WEBHOOK_SECRET": "hook-secret",
        "USINA_WEBHOOK_ALLOW": "10.0.0.0/8, hooks.internal:8443",
        "USINA_ALERT_COOLDOWN": "600",
        "USINA_ALERT_ATTEMPTS": "5",
        "USINA_ALERT_BACKOFF": "0.5",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    config = DeliveryConfig.from_settings(settings)
    smtp = config.smtp
    assert (smtp.host, smtp.port, smtp.user, smtp.password) == (
        "smtp.example.com",
        2525,
        "alerts",
        "pw-from-settings",
    )
    assert (smtp.sender, smtp.starttls) == ("usina@example.com", False)
    assert "pw-from-settings" not in repr(config) and "hook-secret" not in repr(config)
    assert config.webhook.secret == "hook-secret"
    assert ("hooks.internal", 8443) in config.webhook.allow.hosts
    assert (config.attempts, config.backoff) == (5, 0.5)
    db = Database("sqlite://")
    assert Alerter.from_settings(SqlAlertStore(db), settings).cooldown == 600
    db.dispose()
