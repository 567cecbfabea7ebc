"""Sending one notification on one channel: the e-mail, the webhook's signed JSON, the log line.

A webhook body is Slack-compatible: a ``text`` field a chat tool shows as is, and an ``alert``
object with the structured fields. With a secret (``USINA_WEBHOOK_SECRET``) every request
carries ``X-Usina-Signature: t=TIMESTAMP,v1=HEX``, where ``HEX`` is the HMAC-SHA256, keyed by
the secret, of ``TIMESTAMP``, a dot, and the raw body. A receiver recomputes it over the bytes
it received, compares in constant time, and refuses a timestamp too far from its clock
(``verify_signature`` does all three).

Each sender raises ``DeliveryFailed`` (or any ``OSError``) when the channel did not take the
notification; the ``Alerter`` retries and records it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from email.message import EmailMessage
from typing import Any

from usina.monitoring.alerts import Notice, NoticeKind
from usina.monitoring.channels import (
    Channel,
    EmailChannel,
    LogChannel,
    SmtpConfig,
    WebhookChannel,
    WebhookConfig,
    check_webhook_address,
)

log = logging.getLogger("usina.alerts")

SIGNATURE_HEADER = "X-Usina-Signature"
SIGNATURE_TOLERANCE = 300.0


class DeliveryFailed(Exception):
    """A channel refused or could not take a notification; the message says how."""


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def subject(notice: Notice) -> str:
    """One line: ``[usina] FIRING credit-drift/psi_income: value 0.31, threshold 0.2``."""
    a = notice.alert
    label = {NoticeKind.FIRING: "FIRING", NoticeKind.REPEAT: "STILL FIRING"}.get(
        notice.kind, "RESOLVED"
    )
    return (
        f"[usina] {label} {a.monitor}/{a.check}: value {_number(a.value)}, "
        f"threshold {_number(a.threshold)}"
    )


def text(notice: Notice) -> str:
    """The subject, then the alert's message when it has one."""
    message = notice.alert.message
    return f"{subject(notice)}: {message}" if message else subject(notice)


def payload(notice: Notice) -> dict[str, Any]:
    """The webhook's JSON body: Slack's ``text`` plus the alert's fields."""
    a = notice.alert
    return {
        "text": text(notice),
        "alert": {
            "id": a.id,
            "kind": str(notice.kind),
            "notification": notice.number,
            "state": str(a.state),
            "monitor": a.monitor,
            "check": a.check,
            "value": a.value,
            "threshold": a.threshold,
            "message": a.message,
            "first_seen": a.first_seen,
            "last_seen": a.last_seen,
            "resolved_at": a.resolved_at,
        },
    }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = SIGNATURE_TOLERANCE,
) -> bool:
    """What a receiver checks: ``header`` signs ``body`` under ``secret``, within
    ``tolerance`` seconds of ``now``."""
    fields = dict(part.partition("=")[::2] for part in header.split(","))
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).rpartition("v1=")[2]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def send_email(notice: Notice, channel: EmailChannel, smtp: SmtpConfig) -> None:
    import smtplib
    import ssl

    if not smtp.host:
        raise DeliveryFailed("USINA_SMTP_HOST is not set")
    message = EmailMessage()
    message["Subject"] = subject(notice)
    message["From"] = smtp.sender
    message["To"] = ", ".join(channel.addresses)
    a = notice.alert
    lines = [
        text(notice),
        "",
        f"monitor:      {a.monitor}",
        f"check:        {a.check}",
        f"state:        {a.state}",
        f"value:        {_number(a.value)}",
        f"threshold:    {_number(a.threshold)}",
        f"first seen:   {_iso(a.first_seen)}",
        f"last seen:    {_iso(a.last_seen)}",
        f"alert:        {a.id} (notification {notice.number})",
    ]
    message.set_content("\n".join(lines) + "\n")
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
        client.ehlo()
        if smtp.starttls:
            if not client.has_extn("starttls"):
                raise DeliveryFailed(
                    f"{smtp.host}:{smtp.port} does not offer STARTTLS; "
                    "set USINA_SMTP_STARTTLS=false only for a server on a trusted network"
                )
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
        refused = client.send_message(message)
    if refused:
        raise DeliveryFailed(f"the SMTP server refused {', '.join(sorted(refused))}")


def _iso(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def send_webhook(notice: Notice, channel: WebhookChannel, config: WebhookConfig) -> None:
    import httpx
    import orjson

    # Resolve and check now, then connect to that address: the name cannot be re-pointed
    # between the check and the connection.
    addresses = check_webhook_address(channel, config.allow)
    body = orjson.dumps(payload(notice))
    headers = {
        "content-type": "application/json",
        "user-agent": "usina-alerts",
        "host": httpx.URL(channel.url).netloc.decode(),
    }
    if config.secret:
        headers[SIGNATURE_HEADER] = sign(config.secret, int(time.time()), body)
    # TLS names and checks the certificate of the host the URL names, not the address.
    extensions = {"sni_hostname": channel.host} if channel.scheme == "https" else {}
    with httpx.Client(timeout=config.timeout, follow_redirects=False) as client:
        for i, address in enumerate(addresses):
            url = httpx.URL(channel.url).copy_with(host=address)
            try:
                response = client.post(url, content=body, headers=headers, extensions=extensions)
                break
            except httpx.ConnectError as exc:
                if i == len(addresses) - 1:  # the next address, as a browser would
                    raise DeliveryFailed(f"ConnectError: {exc}") from exc
            except httpx.HTTPError as exc:
                raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
    if not response.is_success:
        raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}")


def send_log(notice: Notice, channel: LogChannel | None = None) -> None:
    level = logging.INFO if notice.kind == NoticeKind.RESOLVED else logging.WARNING
    logger = log if channel is None or not channel.name else logging.getLogger(channel.logger)
    logger.log(level, "%s (alert %d)", text(notice), notice.alert.id)


def send(notice: Notice, channel: Channel, smtp: SmtpConfig, webhook: WebhookConfig) -> None:
    """Send ``notice`` on ``channel`` once."""
    if isinstance(channel, EmailChannel):
        send_email(notice, channel, smtp)
    elif isinstance(channel, WebhookChannel):
        send_webhook(notice, channel, webhook)
    elif isinstance(channel, LogChannel):
        send_log(notice, channel)
