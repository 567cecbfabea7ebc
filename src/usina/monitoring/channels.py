"""Where alerts are sent, written as URLs in monitor specs, and how to reach them.

Three schemes::

    email:ml-team@example.com[,oncall@example.com]   e-mail over SMTP (STARTTLS by default)
    webhook:https://hooks.example.com/x              a JSON POST (Slack-compatible), signed
    log:[NAME]                                       a line on the ``usina.alerts[.NAME]`` logger

``parse_channel`` checks a URL's form (no network); ``check_webhook_address`` resolves a
webhook's host and refuses it when any address is private, loopback, link-local or otherwise
not public, unless the allow-list (``USINA_WEBHOOK_ALLOW``) lets it through. The sender
connects to the address it checked, so a name that resolves differently a moment later (DNS
rebinding) cannot redirect the request.

Example:
    >>> parse_channel("email:ml-team@example.com")
    EmailChannel(addresses=('ml-team@example.com',))
    >>> parse_channel("sms:+5511999999999")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    usina.errors.InvalidInput: channel 'sms:+5511999999999' has an unknown scheme 'sms'; ...
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from usina.errors import InvalidInput

if TYPE_CHECKING:
    from usina.settings import Settings

MAX_CHANNEL = 1024
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+")
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_FORMS = "use email:ADDRESS, webhook:https://HOST/PATH or log:[NAME]"
_LOGGER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}(?:\.[A-Za-z0-9_-]{1,64}){0,3}")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class EmailChannel:
    """E-mail to one or more addresses."""

    addresses: tuple[str, ...]


@dataclass(frozen=True)
class WebhookChannel:
    """A JSON POST to ``url`` (http or https)."""

    url: str
    scheme: str
    host: str
    port: int


@dataclass(frozen=True)
class LogChannel:
    """A line on the ``usina.alerts`` logger, or on ``usina.alerts.NAME`` for ``log:NAME``
    (WARNING when firing, INFO when resolved)."""

    name: str = ""

    @property
    def logger(self) -> str:
        return f"usina.alerts.{self.name}" if self.name else "usina.alerts"


Channel = EmailChannel | WebhookChannel | LogChannel


def _refuse(text: Any, why: str) -> InvalidInput:
    return InvalidInput(f"channel {text!r} {why}", field="channels")


def parse_channel(text: Any) -> Channel:
    """The channel a URL names; a clear error naming the URL when it is malformed.

    Raises:
        InvalidInput: an unknown scheme, a malformed e-mail address, a webhook URL that is not
            http(s) with a host; ``field`` is ``channels``.
    """
    if not isinstance(text, str):
        raise _refuse(text, f"is not text; {_FORMS}")
    if len(text) > MAX_CHANNEL:
        raise _refuse(text[:60] + "...", f"is longer than {MAX_CHANNEL} characters")
    scheme, sep, rest = text.partition(":")
    if not sep:
        raise _refuse(text, f"has no scheme; {_FORMS}")
    if scheme == "log":
        if rest and not _LOGGER_NAME.fullmatch(rest):
            raise _refuse(
                text, "names a logger with letters, digits, '_', '-' and dots after 'log:'"
            )
        return LogChannel(rest)
    if scheme == "email":
        addresses = tuple(a.strip() for a in rest.split(","))
        for address in addresses:
            if not _EMAIL.fullmatch(address):
                raise _refuse(
                    text,
                    f"has a malformed e-mail address {address!r}; write "
                    "email:name@example.com (several separated by commas)",
                )
        return EmailChannel(addresses)
    if scheme == "webhook":
        return _parse_webhook(text, rest)
    raise _refuse(text, f"has an unknown scheme {scheme!r}; {_FORMS}")


def _parse_webhook(text: str, url: str) -> WebhookChannel:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refuse(text, f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse(text, "needs an http:// or https:// URL with a host after 'webhook:'")
    if parts.username is not None or parts.password is not None:
        raise _refuse(text, "must not carry credentials in its URL; sign with a secret instead")
    if any(c.isspace() for c in url):
        raise _refuse(text, "must not contain spaces")
    host = parts.hostname
    if not _is_ip(host) and not _HOST.fullmatch(host):
        raise _refuse(text, f"has a malformed host {host!r}")
    default = 443 if parts.scheme == "https" else 80
    return WebhookChannel(url, parts.scheme, host, port or default)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class SmtpConfig:
    """How e-mail is sent: the SMTP server, its credentials and the From address."""

    host: str | None = None
    port: int = 587
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "usina@localhost"
    starttls: bool = True
    timeout: float = 10.0


@dataclass(frozen=True)
class WebhookAllow:
    """Private addresses a webhook may reach anyway: networks, and ``host:port`` pairs."""

    networks: tuple[Network, ...] = ()
    hosts: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def parse(cls, text: str) -> WebhookAllow:
        """``127.0.0.1/32,10.0.0.0/8,hooks.internal:8443`` as an allow-list.

        Raises:
            InvalidInput: an entry that is neither a network nor ``host:port``.
        """
        networks: list[Network] = []
        hosts: set[tuple[str, int]] = set()
        for entry in (e.strip() for e in text.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            host, sep, port = entry.rpartition(":")
            host = host.strip("[]").lower()
            if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
                raise InvalidInput(
                    f"USINA_WEBHOOK_ALLOW entry {entry!r} is neither a network "
                    "(127.0.0.1/32, 10.0.0.0/8, ::1/128) nor host:port (hooks.internal:8443)",
                    field="webhook_allow",
                )
            hosts.add((host, int(port)))
        return cls(tuple(networks), frozenset(hosts))

    def admits(self, host: str, port: int, address: Address) -> bool:
        return (host.lower(), port) in self.hosts or any(address in n for n in self.networks)


@dataclass(frozen=True)
class WebhookConfig:
    """How webhooks are sent: the signing secret (none: unsigned) and the allow-list."""

    secret: str | None = field(default=None, repr=False)
    allow: WebhookAllow = WebhookAllow()
    timeout: float = 10.0


@dataclass(frozen=True)
class DeliveryConfig:
    """Everything the channels need, and the retry policy: up to ``attempts`` tries per
    channel, waiting ``backoff`` seconds after the first failure, doubling after each."""

    smtp: SmtpConfig = SmtpConfig()
    webhook: WebhookConfig = WebhookConfig()
    attempts: int = 3
    backoff: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        """The configuration ``USINA_SMTP_*``, ``USINA_WEBHOOK_*`` and ``USINA_ALERT_*``
        describe (built by the edges, which read settings)."""
        password = settings.smtp_password
        secret = settings.webhook_secret
        return cls(
            smtp=SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                user=settings.smtp_user,
                password=None if password is None else password.get_secret_value(),
                sender=settings.smtp_from,
                starttls=settings.smtp_starttls,
            ),
            webhook=WebhookConfig(
                secret=None if secret is None else secret.get_secret_value(),
                allow=WebhookAllow.parse(settings.webhook_allow),
            ),
            attempts=settings.alert_attempts,
            backoff=settings.alert_backoff,
        )


def _address(text: str) -> Address:
    found = ipaddress.ip_address(text.partition("%")[0])  # drop an IPv6 zone (fe80::1%eth0)
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    return found


def _is_public(address: Address) -> bool:
    return address.is_global and not address.is_multicast


def check_webhook_address(channel: WebhookChannel, allow: WebhookAllow) -> tuple[str, ...]:
    """Resolve the webhook's host, check every address, and return them, to connect to in
    order.

    Every address the name resolves to must be public (not private, loopback, link-local,
    shared, reserved or multicast) or admitted by ``allow``; one bad address refuses the
    whole URL, so a name cannot mix a public address with an internal one.

    Raises:
        InvalidInput: the host does not resolve, or an address is refused; the message names
            the URL, the address and the setting that would admit it.
    """
    url = f"webhook:{channel.url}"
    try:
        found = socket.getaddrinfo(channel.host, channel.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _refuse(url, f"names a host that does not resolve ({exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses:
        raise _refuse(url, "names a host with no address")
    for text in addresses:
        address = _address(text)
        if not _is_public(address) and not allow.admits(channel.host, channel.port, address):
            raise _refuse(
                url,
                f"resolves to {address}, a private, loopback or link-local address; webhooks "
                f"go only to public addresses unless USINA_WEBHOOK_ALLOW lists it (e.g. "
                f"{address}/{address.max_prefixlen} or {channel.host}:{channel.port})",
            )
    return tuple(addresses)


def check_channels(channels: Any, config: DeliveryConfig) -> tuple[Channel, ...]:
    """Parse every channel URL and check what can be checked before anything is stored:
    webhook addresses, and that e-mail has an SMTP server to go through."""
    if isinstance(channels, str) or not isinstance(channels, tuple | list):
        raise InvalidInput(
            f"channels {channels!r} is not a list of channel URLs; give e.g. "
            "['email:ml-team@example.com', 'log:']",
            field="channels",
        )
    parsed = []
    for text in channels:
        channel = parse_channel(text)
        if isinstance(channel, WebhookChannel):
            check_webhook_address(channel, config.webhook.allow)
        if isinstance(channel, EmailChannel) and not config.smtp.host:
            raise _refuse(text, "needs an SMTP server: set USINA_SMTP_HOST (and USINA_SMTP_*)")
        parsed.append(channel)
    return tuple(parsed)
