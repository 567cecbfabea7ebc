"""The contract of an alert store, as a function any backend's tests call: one firing alert per
breached check, reminders only after the cooldown, a resolution notice, deliveries recorded,
lists filtered and paged, bad input refused naming its field with nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from usina.errors import InvalidInput, NotFound
from usina.monitoring.alerts import (
    AlertState,
    DeliveryResult,
    DeliveryStatus,
    NoticeKind,
    Observation,
)
from usina.testing.tracking import expect_error

T0 = 1_700_000_000.0
CHANNELS = ("log:", "email:ml-team@example.com", "webhook:https://hooks.example.com/x")


def _obs(breached: bool, at: float, value: float = 0.3, **change: Any) -> Observation:
    fields: dict[str, Any] = {
        "monitor": "credit-drift",
        "check": "psi_income",
        "breached": breached,
        "value": value,
        "threshold": 0.2,
        "message": "PSI on income",
        "channels": CHANNELS,
        "cooldown": 60.0,
        "time": at,
        **change,
    }
    return Observation(**fields)


def check_alert_store(make_client: Callable[[], Any]) -> None:
    """Assert that ``make_client().alerts`` (a fresh, empty installation) keeps the alert
    store's contract.

    Args:
        make_client: a factory of ``usina.Client`` objects on one empty installation.
    """
    store = make_client().alerts
    assert store.list() == []

    # A healthy check with no alert changes nothing.
    healthy = store.observe(_obs(False, T0 - 10))
    assert healthy.alert is None and healthy.notice is None
    assert store.list() == []

    # A breach opens a firing alert and claims its first notification on every channel.
    first = store.observe(_obs(True, T0))
    assert first.alert is not None and first.notice is not None
    alert = first.alert
    assert (alert.monitor, alert.check, alert.state) == ("credit-drift", "psi_income", "firing")
    assert (alert.value, alert.threshold, alert.message) == (0.3, 0.2, "PSI on income")
    assert (alert.first_seen, alert.last_seen, alert.resolved_at) == (T0, T0, None)
    assert (alert.notifications, alert.last_sent) == (1, T0)
    assert alert.channels == CHANNELS
    assert (first.notice.number, first.notice.kind) == (1, NoticeKind.FIRING)
    assert first.notice.channels == CHANNELS
    assert {d.channel for d in alert.deliveries} == set(CHANNELS)
    assert all(d.status == DeliveryStatus.PENDING and d.attempts == 0 for d in alert.deliveries)

    # How each channel took it is recorded on the alert.
    results = [
        DeliveryResult("log:", True, 1, time=T0 + 1),
        DeliveryResult(CHANNELS[1], True, 2, time=T0 + 2),
        DeliveryResult(CHANNELS[2], False, 3, "HTTP 500: boom", time=T0 + 3),
    ]
    recorded = store.record_deliveries(alert.id, 1, results)
    latest = recorded.latest_deliveries()
    assert latest["log:"].status == DeliveryStatus.SENT and latest["log:"].attempts == 1
    assert latest[CHANNELS[1]].status == DeliveryStatus.SENT
    failed = latest[CHANNELS[2]]
    assert (failed.status, failed.attempts, failed.error) == ("failed", 3, "HTTP 500: boom")
    assert failed.finished_at == T0 + 3 and failed.kind == NoticeKind.FIRING
    expect_error(
        InvalidInput,
        lambda: store.record_deliveries(alert.id, 1, [DeliveryResult("log:x", True, 1)]),
        field="channel",
    )
    expect_error(
        InvalidInput,
        lambda: store.record_deliveries(alert.id, 9, [DeliveryResult("log:", True, 1)]),
        field="channel",
    )
    expect_error(NotFound, lambda: store.record_deliveries(10_000, 1, []))

    # A second breach inside the cooldown updates the alert and sends nothing.
    again = store.observe(_obs(True, T0 + 30, value=0.4))
    assert again.notice is None and again.alert is not None
    assert again.alert.id == alert.id and again.alert.value == 0.4
    assert (again.alert.last_seen, again.alert.notifications) == (T0 + 30, 1)

    # Once the cooldown has passed since the last notification, a breach reminds.
    reminder = store.observe(_obs(True, T0 + 60, value=0.5))
    assert reminder.notice is not None and reminder.alert is not None
    assert (reminder.notice.number, reminder.notice.kind) == (2, NoticeKind.REPEAT)
    assert (reminder.alert.notifications, reminder.alert.last_sent) == (2, T0 + 60)
    assert store.observe(_obs(True, T0 + 100)).notice is None, "the cooldown starts again"

    # A fresh client (another process, a restart) sees the same state.
    other = make_client().alerts
    assert other.observe(_obs(True, T0 + 110)).notice is None
    assert other.get(alert.id).notifications == 2

    # Clearing resolves it and sends the resolution, whatever the cooldown.
    cleared = store.observe(_obs(False, T0 + 120, value=0.1, message=""))
    assert cleared.notice is not None and cleared.alert is not None
    assert (cleared.notice.number, cleared.notice.kind) == (3, NoticeKind.RESOLVED)
    resolved = cleared.alert
    assert resolved.state == AlertState.RESOLVED and resolved.resolved_at == T0 + 120
    assert resolved.message == "PSI on income", "a clearing without a message keeps the last one"
    assert (resolved.first_seen, resolved.last_seen, resolved.value) == (T0, T0 + 120, 0.1)
    assert store.observe(_obs(False, T0 + 130)).alert is None, "resolved: nothing to clear"

    # The next breach is a new alert, notified at once.
    reopened = store.observe(_obs(True, T0 + 140))
    assert reopened.alert is not None and reopened.notice is not None
    assert reopened.alert.id != alert.id and reopened.notice.kind == NoticeKind.FIRING
    assert reopened.notice.number == 1

    # Other checks and monitors have alerts of their own; lists filter and page.
    store.observe(_obs(True, T0 + 150, check="psi_age", channels=("log:",)))
    store.observe(_obs(True, T0 + 160, monitor="churn-quality", check="auc", cooldown=0))
    assert store.observe(
        _obs(True, T0 + 160, monitor="churn-quality", check="auc", cooldown=0)
    ).notice, "a cooldown of 0 reminds on every breach"
    every = store.list()
    assert len(every) == 4 and [a.id for a in every] == sorted((a.id for a in every), reverse=True)
    assert every[-1].id == alert.id and every[-1].state == "resolved"
    assert {a.id for a in store.list(state="firing")} == {a.id for a in every[:3]}
    assert [a.id for a in store.list(state="resolved")] == [alert.id]
    assert {a.check for a in store.list(monitor="credit-drift")} == {"psi_income", "psi_age"}
    assert len(store.list(monitor="credit-drift", check="psi_income")) == 2
    assert [a.id for a in store.list(limit=2, offset=1)] == [a.id for a in every[1:3]]
    assert store.list(monitor="nobody") == []
    full = store.get(alert.id)
    assert full.deliveries == store.list(state="resolved")[0].deliveries
    assert [d.notification for d in full.deliveries if d.channel == "log:"] == [1, 2, 3]

    # Bad input names its field, and nothing is stored.
    before = store.list()

    def refused(field: str, message: str = "", **change: Any) -> None:
        exc = expect_error(InvalidInput, lambda: store.observe(_obs(True, T0, **change)), field)
        assert message in str(exc), f"{message!r} not in {exc}"

    refused("channels", "'sms:+55119'", channels=("sms:+55119",))
    refused("channels", "not-an-address", channels=("email:not-an-address",))
    refused("channels", "ftp://x", channels=("webhook:ftp://x/y",))
    refused("channels", "log:a b", channels=("log:a b",))
    refused("channels", channels="log:")
    refused("monitor", monitor="bad name")
    refused("check", check="")
    refused("value", value=float("nan"))
    refused("threshold", threshold=float("inf"))
    refused("cooldown", cooldown=-1)
    refused("time", time=-5)
    assert store.list() == before, "nothing stored for refused input"
    expect_error(InvalidInput, lambda: store.list(state="burning"), field="state")
    expect_error(InvalidInput, lambda: store.list(limit=0), field="limit")
    expect_error(InvalidInput, lambda: store.get(0), field="id")
    expect_error(NotFound, lambda: store.get(10_000))
