"""Alerts as data: what a monitor observed of one check (``Observation``), the alert it raised
or cleared (``Alert``), the notification the store decided to send (``Notice``), and what became
of it on each channel (``Delivery``), with the checks both alert stores run on input.

An alert belongs to one check of one monitor. While the check stays breached there is one
firing alert for it, however many processes observe it; when the check clears, the alert is
resolved, and the next breach opens a new alert.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field
from typing import Any

from usina.errors import InvalidInput

DEFAULT_COOLDOWN = 4 * 3600.0  # like Alertmanager's repeat_interval default
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@\-]{0,255}")
MAX_MESSAGE = 4000
MAX_CHANNELS = 20
MAX_ERROR = 2000


class AlertState(enum.StrEnum):
    """An alert is firing while its check is breached, resolved once it clears."""

    FIRING = "firing"
    RESOLVED = "resolved"


class NoticeKind(enum.StrEnum):
    """Why a notification is sent: a new breach, a reminder after the cooldown while it still
    fires, or the resolution."""

    FIRING = "firing"
    REPEAT = "repeat"
    RESOLVED = "resolved"


class DeliveryStatus(enum.StrEnum):
    """A notification on one channel: being sent, delivered, or given up after retries."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class Observation:
    """One check of one monitor as a monitor run saw it.

    ``value`` is what was measured and ``threshold`` the limit it was held to (either may be
    ``None``); ``channels`` are channel URLs (``email:ml-team@example.com``,
    ``webhook:https://hooks.example.com/x``, ``log:``); ``cooldown`` is the seconds a firing
    alert waits before it notifies again; ``time`` is when the check ran (seconds since the
    epoch; ``None``: now).
    """

    monitor: str
    check: str
    breached: bool
    value: float | None = None
    threshold: float | None = None
    message: str = ""
    channels: tuple[str, ...] = ("log:",)
    cooldown: float = DEFAULT_COOLDOWN
    time: float | None = None


@dataclass(frozen=True)
class Delivery:
    """One notification of an alert on one channel: ``notification`` numbers the alert's
    notifications from 1; ``attempts`` were made, the last failing with ``error`` when the
    status is ``failed``."""

    notification: int
    kind: NoticeKind
    channel: str
    status: DeliveryStatus
    attempts: int
    error: str
    created_at: float
    finished_at: float | None


@dataclass(frozen=True)
class Alert:
    """A breach of one check, from its first observation to its resolution.

    ``first_seen`` and ``last_seen`` bound the observations of the breach (``last_seen`` is the
    resolution's time once resolved); ``value``, ``threshold`` and ``message`` are the latest
    observation's; ``notifications`` counts the notifications sent (the first, reminders and
    the resolution), the last at ``last_sent``; ``deliveries`` says what became of each on each
    channel.
    """

    id: int
    monitor: str
    check: str
    state: AlertState
    value: float | None
    threshold: float | None
    message: str
    channels: tuple[str, ...]
    first_seen: float
    last_seen: float
    resolved_at: float | None
    notifications: int
    last_sent: float | None
    deliveries: tuple[Delivery, ...] = field(default=())

    def latest_deliveries(self) -> dict[str, Delivery]:
        """The latest delivery on each channel, by channel URL."""
        found: dict[str, Delivery] = {}
        for d in self.deliveries:
            if d.channel not in found or d.notification > found[d.channel].notification:
                found[d.channel] = d
        return found


@dataclass(frozen=True)
class Notice:
    """A notification the store decided to send: the ``number``-th of ``alert``, of ``kind``,
    to each of ``channels``."""

    alert: Alert
    number: int
    kind: NoticeKind
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """What an observation did: the alert it opened, updated or resolved (``None`` for a
    healthy check with no alert) and the notification to send (``None``: nothing to send)."""

    alert: Alert | None
    notice: Notice | None


@dataclass(frozen=True)
class DeliveryResult:
    """How sending one notification on one channel ended."""

    channel: str
    ok: bool
    attempts: int
    error: str = ""
    time: float | None = None


def check_name(value: Any, field: str) -> str:
    """A monitor's or check's name: letters, digits and ``._:/@-``, at most 256."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput(
            f"{field} {value!r} is not valid; use letters, digits and '._:/@-' (at most 256, "
            "starting with a letter or digit)",
            field=field,
        )
    return value


def check_number(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{field} {value!r} is not a finite number", field=field)
    return float(value)


def check_time(value: Any, field: str = "time") -> float | None:
    found = check_number(value, field)
    if found is not None and found < 0:
        raise InvalidInput(f"{field} {value!r} is before 1970", field=field)
    return found


def check_observation(obs: Observation) -> Observation:
    """Refuse a malformed observation, naming the field; channel URLs are checked for their
    form here (``usina.monitoring.channels.parse_channel``), their addresses by the sender."""
    from usina.monitoring.channels import parse_channel

    if not isinstance(obs, Observation):
        raise InvalidInput(f"{obs!r} is not an Observation", field="observation")
    check_name(obs.monitor, "monitor")
    check_name(obs.check, "check")
    if not isinstance(obs.breached, bool):
        raise InvalidInput(f"breached {obs.breached!r} is not true or false", field="breached")
    check_number(obs.value, "value")
    check_number(obs.threshold, "threshold")
    if not isinstance(obs.message, str) or len(obs.message) > MAX_MESSAGE:
        raise InvalidInput(
            f"message must be text of at most {MAX_MESSAGE} characters", field="message"
        )
    channels = obs.channels
    if isinstance(channels, str) or not isinstance(channels, tuple | list):
        raise InvalidInput(
            f"channels {channels!r} is not a list of channel URLs; give e.g. "
            "['email:ml-team@example.com', 'log:']",
            field="channels",
        )
    if len(channels) > MAX_CHANNELS:
        raise InvalidInput(f"at most {MAX_CHANNELS} channels per check", field="channels")
    for channel in channels:
        parse_channel(channel)
    cooldown = check_number(obs.cooldown, "cooldown")
    if cooldown is None or cooldown < 0:
        raise InvalidInput(
            f"cooldown {obs.cooldown!r} is not a number of seconds >= 0", field="cooldown"
        )
    check_time(obs.time)
    return obs


def check_state(value: Any) -> AlertState | None:
    if value is None:
        return None
    try:
        return AlertState(value)
    except ValueError:
        raise InvalidInput(
            f"state {value!r} is not one of {', '.join(AlertState)}", field="state"
        ) from None


def check_alert_id(alert_id: Any) -> int:
    if isinstance(alert_id, bool) or not isinstance(alert_id, int) or alert_id < 1:
        raise InvalidInput(f"alert id {alert_id!r} is not a whole number >= 1", field="id")
    return alert_id


def check_result(result: Any) -> DeliveryResult:
    if not isinstance(result, DeliveryResult):
        raise InvalidInput(f"{result!r} is not a DeliveryResult", field="results")
    if not isinstance(result.ok, bool):
        raise InvalidInput(f"ok {result.ok!r} is not true or false", field="ok")
    attempts = result.attempts
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 0 <= attempts <= 100:
        raise InvalidInput(f"attempts {attempts!r} is not between 0 and 100", field="attempts")
    if not isinstance(result.error, str):
        raise InvalidInput(f"error {result.error!r} is not text", field="error")
    if len(result.error) > MAX_ERROR:
        result = DeliveryResult(
            result.channel, result.ok, result.attempts, result.error[:MAX_ERROR], result.time
        )
    check_time(result.time)
    return result


def check_list_filters(
    state: Any, monitor: Any, check: Any, limit: int, offset: int
) -> AlertState | None:
    """Check the filters and page of an alert list (both stores, so both answer alike);
    returns the state asked for."""
    from usina.store.paging import check_page

    found = check_state(state)
    if monitor is not None:
        check_name(monitor, "monitor")
    if check is not None:
        check_name(check, "check")
    check_page(limit, offset)
    return found
