"""Alerts arrive where they are sent: e-mail at a real SMTP server, webhooks at a real HTTP
receiver (allow-listed on loopback), signed so the receiver can check them; a second breach
inside the cooldown sends nothing; the resolution arrives. Directly and through a server, on
SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import pytest

from monitoring.conftest import SECRET, Inbox, Receiver
from resources.servers import free_port
from usina.errors import InvalidInput
from usina.monitoring.alerter import Alerter
from usina.monitoring.channels import DeliveryConfig, SmtpConfig, WebhookAllow, WebhookConfig


@pytest.fixture(params=["direct", "http"])
def make_client(request: pytest.FixtureRequest, db_url: str, client_factory):  # type: ignore[no-untyped-def]
    if request.param == "direct":
        return lambda: client_factory(db_url)
    return request.getfixturevalue("remote_factory")


def config(inbox: Inbox, allow: str = "127.0.0.1/32", **change: Any) -> DeliveryConfig:
    fields: dict[str, Any] = {
        "smtp": SmtpConfig(
            host=inbox.host, port=inbox.port, sender="usina@example.com", starttls=False
        ),
        "webhook": WebhookConfig(secret=SECRET, allow=WebhookAllow.parse(allow)),
        "attempts": 3,
        "backoff": 0.01,
        **change,
    }
    return DeliveryConfig(**fields)


def verify_as_a_receiver(header: str, body: bytes) -> None:
    """What docs/monitoring.md tells a receiver to do, written without usina."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    timestamp = int(parts["t"])
    assert abs(time.time() - timestamp) < 300, "a fresh timestamp"
    expected = hmac.new(
        SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(expected, parts["v1"]), "the signature matches the body"
    forged = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body + b" ", hashlib.sha256)
    assert forged.hexdigest() != parts["v1"], "a changed body would not match"


def test_email_and_webhook_arrive_once_per_breach_then_resolve(
    make_client, smtp_server: Inbox, receiver: Receiver
) -> None:  # type: ignore[no-untyped-def]
    alerter = Alerter(make_client().alerts, config(smtp_server), cooldown=3600)
    hook = f"webhook:{receiver.url}/hooks/ml?team=risk"
    channels = ["email:ml-team@example.com,oncall@example.com", hook, "log:"]

    fired = alerter.evaluate(
        "credit-drift", "psi_income", True, 0.31, 0.2, "PSI on income", channels=channels
    )
    assert fired.notice is not None and fired.alert is not None
    assert {d.channel: str(d.status) for d in fired.alert.deliveries} == {
        c: "sent" for c in channels
    }

    # The e-mail: to both addresses, from the configured sender, saying what fired.
    [mail] = smtp_server.mails
    assert sorted(mail.recipients) == ["ml-team@example.com", "oncall@example.com"]
    assert mail.message["From"] == "usina@example.com"
    subject = mail.message["Subject"]
    assert subject == "[usina] FIRING credit-drift/psi_income: value 0.31, threshold 0.2"
    text = mail.message.get_payload(decode=True).decode()
    assert "PSI on income" in text and "monitor:      credit-drift" in text

    # The webhook: a Slack-style text plus the fields, signed over timestamp and body.
    [request] = receiver.requests
    assert request.path == "/hooks/ml?team=risk"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"
    body = request.json()
    assert body["text"] == f"{subject}: PSI on income"
    assert body["alert"] == {
        "id": fired.alert.id,
        "kind": "firing",
        "notification": 1,
        "state": "firing",
        "monitor": "credit-drift",
        "check": "psi_income",
        "value": 0.31,
        "threshold": 0.2,
        "message": "PSI on income",
        "first_seen": fired.alert.first_seen,
        "last_seen": fired.alert.last_seen,
        "resolved_at": None,
    }
    verify_as_a_receiver(request.headers["x-usina-signature"], request.body)

    # A second breach inside the cooldown sends nothing, from this alerter or another one.
    again = alerter.evaluate("credit-drift", "psi_income", True, 0.35, 0.2, channels=channels)
    assert again.notice is None and again.alert is not None and again.alert.value == 0.35
    other = Alerter(make_client().alerts, config(smtp_server), cooldown=3600)
    assert (
        other.evaluate("credit-drift", "psi_income", True, 0.4, 0.2, channels=channels).notice
        is None
    )
    assert len(smtp_server.mails) == 1 and len(receiver.requests) == 1

    # Clearing sends the resolution notice on every channel.
    resolved = alerter.evaluate("credit-drift", "psi_income", False, 0.12, 0.2, channels=channels)
    assert resolved.notice is not None and str(resolved.notice.kind) == "resolved"
    assert len(smtp_server.mails) == 2 and len(receiver.requests) == 2
    assert smtp_server.mails[1].message["Subject"].startswith("[usina] RESOLVED credit-drift/")
    notice = receiver.requests[1].json()
    assert notice["text"].startswith("[usina] RESOLVED credit-drift/psi_income: value 0.12")
    assert (notice["alert"]["state"], notice["alert"]["notification"]) == ("resolved", 2)
    assert notice["alert"]["resolved_at"] is not None
    verify_as_a_receiver(
        receiver.requests[1].headers["x-usina-signature"], receiver.requests[1].body
    )

    [alert] = make_client().alerts.list()
    assert (alert.state, alert.notifications) == ("resolved", 2)
    assert all(d.status == "sent" for d in alert.deliveries) and len(alert.deliveries) == 6


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_reminder_after_the_cooldown_and_one_run_of_checks(
    client, smtp_server: Inbox, receiver: Receiver
) -> None:  # type: ignore[no-untyped-def]
    from usina.monitoring.alerter import CheckResult

    alerter = Alerter(client.alerts, config(smtp_server), cooldown=600)
    hook = [f"webhook:{receiver.url}/x"]
    checks = [CheckResult("psi_income", True, 0.3, 0.2), CheckResult("psi_age", False, 0.1, 0.2)]
    first = alerter.evaluate_run("credit-drift", checks, channels=hook, at=1000.0)
    assert [e.notice is not None for e in first] == [True, False]
    assert alerter.evaluate_run("credit-drift", checks, channels=hook, at=1500.0)[0].notice is None
    reminder = alerter.evaluate_run("credit-drift", checks, channels=hook, at=1600.0)[0]
    assert reminder.notice is not None and str(reminder.notice.kind) == "repeat"
    texts = [r.json()["text"] for r in receiver.requests]
    assert [t.split(" credit-drift")[0] for t in texts] == [
        "[usina] FIRING",
        "[usina] STILL FIRING",
    ]


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost and its key, as PEM files."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.pem", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_email_goes_over_starttls_with_the_configured_login(
    client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import ssl

    controller_module = pytest.importorskip("aiosmtpd.controller", reason="pip install aiosmtpd")
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert_file, key_file = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    logins: list[tuple[bytes, bytes]] = []
    mails: list[Any] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"pw-from-settings")

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            mails.append((session.ssl is not None, envelope.rcpt_tos))
            return "250 OK"

    port = free_port()
    controller = controller_module.Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    controller.start()
    try:
        # The client trusts this test's certificate the way it trusts any CA: from the system
        # store, which OpenSSL reads from SSL_CERT_FILE.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
        smtp = SmtpConfig("127.0.0.1", port, "alerts", "pw-from-settings", "usina@example.com")
        alerter = Alerter(client.alerts, DeliveryConfig(smtp=smtp, backoff=0.01))
        fired = alerter.evaluate("drift", "psi", True, 0.3, 0.2, channels=["email:a@example.com"])
        assert fired.alert is not None
        assert [str(d.status) for d in fired.alert.deliveries] == ["sent"], fired.alert.deliveries
        assert logins == [(b"alerts", b"pw-from-settings")]
        assert mails == [(True, ["a@example.com"])], "delivered over TLS"
    finally:
        controller.stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_server_without_starttls_is_refused_unless_allowed(client, smtp_server: Inbox) -> None:  # type: ignore[no-untyped-def]
    smtp = SmtpConfig(smtp_server.host, smtp_server.port, starttls=True)
    alerter = Alerter(client.alerts, DeliveryConfig(smtp=smtp, attempts=1))
    fired = alerter.evaluate("drift", "psi", True, 0.3, 0.2, channels=["email:a@example.com"])
    assert fired.alert is not None
    [delivery] = fired.alert.deliveries
    assert delivery.status == "failed" and "does not offer STARTTLS" in delivery.error
    assert smtp_server.mails == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_https_webhook_by_name_checks_the_names_certificate(
    client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The request goes to the address that was checked, yet TLS still names the host and
    checks its certificate, and the receiver sees the host in its Host header."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    cert_file, key_file = _self_signed(tmp_path)
    seen: list[tuple[str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            seen.append((self.headers["host"], body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # trusted like a system CA
        hook = f"webhook:https://localhost:{port}/hook"
        allow = WebhookAllow.parse(f"localhost:{port}")
        alerter = Alerter(client.alerts, DeliveryConfig(webhook=WebhookConfig(allow=allow)))
        fired = alerter.evaluate("drift", "psi", True, 0.3, 0.2, channels=[hook])
        assert fired.alert is not None
        assert [str(d.status) for d in fired.alert.deliveries] == ["sent"], fired.alert.deliveries
        assert [host for host, _ in seen] == [f"localhost:{port}"]

        # Without the allow-list entry the same URL is refused before anything is stored.
        with pytest.raises(InvalidInput, match="resolves to 127"):
            Alerter(client.alerts).evaluate("drift", "auc", True, channels=[hook])
        assert len(client.alerts.list()) == 1 and len(seen) == 1
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)
