"""Every decision of a policy goes to its monitor's alert channels: an e-mail, a webhook's
JSON (Slack-compatible ``text`` plus the event), a log line. A channel that fails is logged and
counted; the decision stands (it is on the record first)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any

from prometheus_client import Counter

from usina.monitoring.channels import (
    DeliveryConfig,
    EmailChannel,
    LogChannel,
    WebhookChannel,
    check_webhook_address,
    parse_channel,
)
from usina.policies.entities import Event

log = logging.getLogger("usina.policies")

NOTICES = Counter(
    "usina_policy_notices_total",
    "Policy decisions sent to alert channels, by channel kind and how it ended.",
    ["channel", "status"],
)


def subject(event: Event) -> str:
    """``[usina] policy credit-loop: promoted credit v4``."""
    version = f" v{event.version}" if event.version is not None else ""
    return f"[usina] policy {event.policy}: {event.kind.replace('_', ' ')} {event.model}{version}"


def body(event: Event) -> str:
    lines = [
        f"{subject(event)}: {event.reason}",
        "",
        f"policy:   {event.policy}",
        f"model:    {event.model}",
        f"version:  {event.version if event.version is not None else '-'}",
        f"decision: {event.kind}",
        f"why:      {event.reason}",
        f"at:       {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(event.at))}",
        f"by:       {event.actor}",
        f"event:    {event.id}",
    ]
    return "\n".join(lines) + "\n"


def send_event(event: Event, channels: Sequence[str], config: DeliveryConfig) -> dict[str, str]:
    """Send ``event`` once on each channel; what became of each (``sent`` or the error)."""
    outcome = {}
    for text in channels:
        try:
            channel = parse_channel(text)
            kind = type(channel).__name__.removesuffix("Channel").lower()
            if isinstance(channel, EmailChannel):
                _email(event, channel, config)
            elif isinstance(channel, WebhookChannel):
                _webhook(event, channel, config)
            elif isinstance(channel, LogChannel):
                logger = logging.getLogger(channel.logger) if channel.name else log
                logger.warning("%s: %s", subject(event), event.reason)
            outcome[text] = "sent"
            NOTICES.labels(kind, "sent").inc()
        except Exception as exc:  # noqa: BLE001 - a channel's failure is reported, not raised
            log.warning("policy %s: %s not sent to %s: %s", event.policy, event.kind, text, exc)
            outcome[text] = f"{type(exc).__name__}: {exc}"
            NOTICES.labels(text.partition(":")[0], "failed").inc()
    return outcome


def _email(event: Event, channel: EmailChannel, config: DeliveryConfig) -> None:
    import smtplib
    import ssl

    smtp = config.smtp
    if not smtp.host:
        raise RuntimeError("USINA_SMTP_HOST is not set")
    message = EmailMessage()
    message["Subject"] = subject(event)
    message["From"] = smtp.sender
    message["To"] = ", ".join(channel.addresses)
    message["X-Usina-Event"] = str(event.id)
    message.set_content(body(event))
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
        client.ehlo()
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
        client.send_message(message)


def _webhook(event: Event, channel: WebhookChannel, config: DeliveryConfig) -> None:
    import httpx
    import orjson

    from usina.monitoring.delivery import SIGNATURE_HEADER, sign

    addresses = check_webhook_address(channel, config.webhook.allow)
    payload: dict[str, Any] = {"text": f"{subject(event)}: {event.reason}", "event": event.__dict__}
    data = orjson.dumps(payload)
    headers = {"content-type": "application/json", "user-agent": "usina-policies"}
    if config.webhook.secret:
        headers[SIGNATURE_HEADER] = sign(config.webhook.secret, int(time.time()), data)
    url = httpx.URL(channel.url).copy_with(host=addresses[0])
    headers["host"] = httpx.URL(channel.url).netloc.decode()
    with httpx.Client(timeout=config.webhook.timeout, follow_redirects=False) as client:
        response = client.post(url, content=data, headers=headers)
    if not response.is_success:
        raise RuntimeError(f"HTTP {response.status_code}")
