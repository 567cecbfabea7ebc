"""A channel that fails is retried a bounded number of times, and its failure is visible: on the
alert's delivery record (``usina alerts list``, with and without ``USINA_URL``), on
``/metrics``, and in a log line. The other channels still get the notification."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from monitoring.conftest import Inbox, Receiver
from resources.servers import free_port
from usina.monitoring.alerter import Alerter
from usina.monitoring.channels import DeliveryConfig, SmtpConfig, WebhookAllow, WebhookConfig


def usina(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    full.update(USINA_HOME=str(tmp_path / "home"), COLUMNS="250", **env)
    return subprocess.run(
        [sys.executable, "-m", "usina", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


@pytest.fixture
def failing(receiver: Receiver) -> Receiver:
    receiver.status = 500
    return receiver


def test_failing_channels_are_retried_and_the_failure_is_shown(
    db_url: str,
    client_factory,  # type: ignore[no-untyped-def]
    live_server,  # type: ignore[no-untyped-def]
    smtp_server: Inbox,
    failing: Receiver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = free_port()  # nothing listens there
    config = DeliveryConfig(
        smtp=SmtpConfig(host="127.0.0.1", port=closed, starttls=False, timeout=5),
        webhook=WebhookConfig(allow=WebhookAllow.parse("127.0.0.1/32")),
        attempts=3,
        backoff=0.01,
    )
    waits: list[float] = []
    alerter = Alerter(client_factory(db_url).alerts, config, sleep=waits.append)
    hook = f"webhook:{failing.url}/hook"
    channels = ["email:ml-team@example.com", hook, "log:"]
    with caplog.at_level(logging.WARNING, logger="usina.alerts"):
        fired = alerter.evaluate(
            "credit-drift", "psi_income", True, 0.31, 0.2, "PSI on income", channels=channels
        )
    assert fired.alert is not None
    latest = fired.alert.latest_deliveries()
    assert (latest["log:"].status, latest["log:"].attempts) == ("sent", 1), "others still go"

    # Retried, with a growing wait, then given up.
    assert len(failing.requests) == 3, "the webhook was tried three times"
    assert (latest[hook].status, latest[hook].attempts) == ("failed", 3)
    assert latest[hook].error.startswith("HTTP 500")
    email = latest["email:ml-team@example.com"]
    assert (email.status, email.attempts) == ("failed", 3)
    assert "ConnectionRefusedError" in email.error
    assert waits == [0.01, 0.02, 0.01, 0.02], "backoff doubles, twice per failing channel"
    assert smtp_server.mails == []

    # A log line for each failing channel.
    failures = [r.getMessage() for r in caplog.records if "failed after 3 attempts" in r.message]
    assert len(failures) == 2 and any(hook in line and "HTTP 500" in line for line in failures)

    # Counted on /metrics (the alerter ran in the server's process here).
    metrics = httpx.get(f"{live_server.url}/metrics").text
    assert 'usina_alert_deliveries_total{channel="webhook",status="failed"}' in metrics
    assert 'usina_alert_delivery_attempts_total{channel="email",outcome="failed"}' in metrics

    # usina alerts list shows it, on the database and through the server.
    direct = {"USINA_DB_URL": db_url}
    remote = {"USINA_URL": live_server.url}
    for env in (direct, remote):
        out = usina(tmp_path, "alerts", "list", **env)
        assert out.returncode == 0, out.stderr
        assert "credit-drift" in out.stdout and "psi_income" in out.stdout
        assert "firing" in out.stdout and "0.31" in out.stdout and "0.2" in out.stdout
        assert f"{hook} failed (3 tries): HTTP 500" in out.stdout
        assert "log: sent" in out.stdout
        listed = json.loads(usina(tmp_path, "alerts", "list", "--json", **env).stdout)
        assert [a["id"] for a in listed] == [fired.alert.id]
        by_channel = {d["channel"]: d for d in listed[0]["deliveries"]}
        assert by_channel[hook]["status"] == "failed" and by_channel[hook]["attempts"] == 3
        assert by_channel["email:ml-team@example.com"]["status"] == "failed"
        assert listed[0]["state"] == "firing" and listed[0]["threshold"] == 0.2
    out = usina(tmp_path, "alerts", "list", "--state", "resolved", **direct)
    assert out.returncode == 0 and "No alerts match." in out.stdout
    out = usina(tmp_path, "alerts", "list", "--state", "burning", **remote)
    assert out.returncode == 2 and "state 'burning' is not one of firing, resolved" in out.stderr
    assert "Traceback" not in out.stderr
