"""A monitor run raises its alerts: the breach reaches the monitor's e-mail channel (a real
SMTP server on loopback), a second run inside the cooldown sends nothing, and a window where
the drift has cleared sends the resolution notice. ``usina monitors run`` does the same with
the ``USINA_SMTP_*`` settings, and ``usina monitors report`` writes the report."""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path

from monitoring.conftest import Inbox
from monitoring.test_monitors import HOUR, _frame, served  # noqa: F401 (a fixture)
from resources.cli_session import CliSession
from usina.monitoring.alerter import Alerter
from usina.monitoring.channels import DeliveryConfig, SmtpConfig
from usina.testing.monitoring import T0, log_row, write_log

MONITOR = {
    "name": "credit-watch",
    "endpoint": "credit",
    "window": "1h",
    "drift_threshold": 0.1,
    "alerts": ["email:ml-team@example.com"],
}


def _subjects(inbox: Inbox) -> list[str]:
    return [str(m.message["Subject"]) for m in inbox.mails]


def _calm_hour(client, model, start: float) -> None:  # type: ignore[no-untyped-def]
    calm = _frame(1000, 9, shifted=False)
    answers = model.predict(calm)
    rows = [
        log_row(f"c{i}", start + i, calm.iloc[i].to_dict(), int(answers[i])) for i in range(1000)
    ]
    write_log(client.artifacts, rows, tag="calm")


def test_a_breach_mails_once_per_cooldown_and_its_clearing_mails_the_resolution(
    served,  # noqa: F811
    smtp_server: Inbox,
) -> None:  # type: ignore[no-untyped-def]
    client, model = served
    smtp = SmtpConfig(
        smtp_server.host, smtp_server.port, sender="usina@example.com", starttls=False
    )
    client.monitors.alerter = Alerter(client.alerts, DeliveryConfig(smtp=smtp), cooldown=HOUR)
    client.monitors.create(MONITOR)

    run = client.monitors.run("credit-watch", end=T0 + HOUR)
    assert run.status == "breached"
    assert len(smtp_server.mails) == 1, _subjects(smtp_server)
    mail = smtp_server.mails[0]
    assert mail.recipients == ["ml-team@example.com"]
    body = mail.message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "credit-watch" in str(mail.message["Subject"]) + body
    assert "age" in str(mail.message["Subject"]) + body
    (alert,) = client.alerts.list(monitor="credit-watch", state="firing")
    assert alert.check == "drift:age"

    client.monitors.run("credit-watch", end=T0 + HOUR)  # the same breach, within the cooldown
    assert len(smtp_server.mails) == 1, "no second e-mail inside the cooldown"

    later = T0 + 3 * HOUR
    _calm_hour(client, model, later)
    calm = client.monitors.run("credit-watch", end=later + HOUR)
    assert calm.status == "ok", calm.breaches
    assert len(smtp_server.mails) == 2, _subjects(smtp_server)
    resolution = smtp_server.mails[1].message
    text = str(resolution["Subject"]) + resolution.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "resolved" in text.lower() and "age" in text
    assert client.alerts.list(monitor="credit-watch", state="firing") == []


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.svgs += tag == "svg"


def test_the_cli_runs_alert_with_the_smtp_settings_and_the_report_is_written(
    served,  # noqa: F811
    smtp_server: Inbox,
    tmp_path: Path,
) -> None:  # type: ignore[no-untyped-def]
    client, model = served
    client.monitors.create(MONITOR)
    _calm_hour(client, model, T0 + 3 * HOUR)
    base = {k: v for k, v in os.environ.items() if not k.startswith("USINA_")}
    env = {
        **base,
        "USINA_DB_URL": client.db.url,
        "USINA_ARTIFACTS": str(client.artifacts.uri).removeprefix("file://"),
        "USINA_SMTP_HOST": smtp_server.host,
        "USINA_SMTP_PORT": str(smtp_server.port),
        "USINA_SMTP_STARTTLS": "false",
        "USINA_SMTP_FROM": "usina@example.com",
    }
    report = tmp_path / "report.html"
    with CliSession(env, tmp_path) as usina:
        for end in (T0 + HOUR, T0 + 4 * HOUR):
            out = usina.run("monitors", "run", "credit-watch", "--end", str(end))
            assert out.returncode == 0, (out.stdout, out.stderr)
        made = usina.run("monitors", "report", "credit-watch", "--out", str(report))
        assert made.returncode == 0, (made.stdout, made.stderr)
    assert [m.recipients for m in smtp_server.mails] == [["ml-team@example.com"]] * 2
    html = report.read_text()
    tags = _Tags()
    tags.feed(html)
    assert tags.svgs >= 4, "drift over time and histograms, per feature"
    assert "credit-watch" in html and "age" in html
    assert "http://" not in html and "https://" not in html
