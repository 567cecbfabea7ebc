"""``Alerter``: what a monitor run calls with what it found, check by check.

The alerter validates the channels (before anything is stored), lets the store decide whether a
notification is due (``AlertStore.observe``, one transaction, so several processes agree),
sends a due notification on each channel with bounded retries, and records how each channel
took it. A failed channel shows in three places: the alert's delivery record (``usina alerts
list``), the counter ``usina_alert_deliveries_total{status="failed"}`` on ``/metrics`` of the
process that sent it, and a WARNING line on the ``usina.alerts`` logger.

The rule for notifications (Alertmanager's ``repeat_interval``, per alert):

- a breach with no firing alert for its check opens one and notifies at once;
- while it fires, a breach notifies again only when ``cooldown`` seconds have passed since the
  last notification (a reminder); otherwise it only updates the alert (value, last seen);
- the first observation of the check cleared resolves the alert and sends a resolution notice;
- the cooldown counts from when a notification was sent, whether every channel took it or not
  (a failing channel is retried within the notification, not by the next run).

Example:
    >>> import usina
    >>> from usina.monitoring.alerter import Alerter
    >>> alerter = Alerter(usina.Client("sqlite://", "memory://").alerts)
    >>> alerter.evaluate("drift", "psi_income", True, 0.31, 0.2, channels=["log:"]).notice.kind
    <NoticeKind.FIRING: 'firing'>
    >>> alerter.evaluate("drift", "psi_income", True, 0.35, 0.2, channels=["log:"]).notice
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import Counter

from usina.errors import UsinaError
from usina.monitoring.alerts import (
    DEFAULT_COOLDOWN,
    Alert,
    DeliveryResult,
    Notice,
    Observation,
    check_observation,
)
from usina.monitoring.base import AlertStore
from usina.monitoring.channels import Channel, DeliveryConfig, check_channels, parse_channel
from usina.monitoring.delivery import DeliveryFailed, send

if TYPE_CHECKING:
    from usina.settings import Settings

log = logging.getLogger("usina.alerts")

DELIVERIES = Counter(
    "usina_alert_deliveries_total",
    "Alert notifications by channel kind (email, webhook, log) and how they ended.",
    ["channel", "status"],
)
ATTEMPTS = Counter(
    "usina_alert_delivery_attempts_total",
    "Attempts to send alert notifications, retries included, by channel kind and outcome.",
    ["channel", "outcome"],
)


@dataclass(frozen=True)
class CheckResult:
    """One check of a monitor run: whether it breached, the value measured, its threshold."""

    check: str
    breached: bool
    value: float | None = None
    threshold: float | None = None
    message: str = ""


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate`` did: the alert (``None`` for a healthy check without one), and the
    notification it sent (``None`` when none was due), its deliveries recorded on the alert."""

    alert: Alert | None
    notice: Notice | None


class Alerter:
    """Turn check results into alerts and notifications.

    Args:
        store: where alert state lives (``client.alerts``).
        config: SMTP, webhook and retry settings (``DeliveryConfig.from_settings(settings)``
            at the edges).
        cooldown: default seconds between notifications of one firing alert.
        sleep: how to wait between retries (a test may pass a shorter one).
    """

    def __init__(
        self,
        store: AlertStore,
        config: DeliveryConfig | None = None,
        *,
        cooldown: float = DEFAULT_COOLDOWN,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.config = config or DeliveryConfig()
        self.cooldown = cooldown
        self.sleep = sleep

    @classmethod
    def from_settings(cls, store: AlertStore, settings: Settings) -> Alerter:
        """An alerter with the channels, retries and cooldown ``USINA_SMTP_*``,
        ``USINA_WEBHOOK_*`` and ``USINA_ALERT_*`` describe (the edges build it)."""
        return cls(store, DeliveryConfig.from_settings(settings), cooldown=settings.alert_cooldown)

    def evaluate(
        self,
        monitor: str,
        check: str,
        breached: bool,
        value: float | None = None,
        threshold: float | None = None,
        message: str = "",
        *,
        channels: Sequence[str] = ("log:",),
        cooldown: float | None = None,
        at: float | None = None,
    ) -> Evaluation:
        """Record one check's result and send whatever notification is due.

        Args:
            monitor, check: which check of which monitor (letters, digits, ``._:/@-``).
            breached: whether the check failed its threshold this time.
            value, threshold: what was measured and the limit (shown in notifications).
            message: one line for people (``PSI 0.31 on income over 0.2``).
            channels: channel URLs; every one is checked (form, webhook address, SMTP
                configured) before anything is stored.
            cooldown: seconds between notifications of this alert while it fires; the
                alerter's default when ``None``.
            at: when the check ran (seconds since the epoch); now when ``None``.

        Raises:
            InvalidInput: a malformed name, number or channel; nothing is stored.
        """
        observation = self._observation(
            monitor, check, breached, value, threshold, message, channels, cooldown, at
        )
        check_channels(observation.channels, self.config)
        return self._apply(observation)

    def evaluate_run(
        self,
        monitor: str,
        results: Iterable[CheckResult],
        *,
        channels: Sequence[str] = ("log:",),
        cooldown: float | None = None,
        at: float | None = None,
    ) -> list[Evaluation]:
        """``evaluate`` each check of one monitor run, all at the run's time. Every result and
        every channel is checked before any result is stored, the channels once."""
        when = time.time() if at is None else at
        observations = [
            self._observation(
                monitor,
                r.check,
                r.breached,
                r.value,
                r.threshold,
                r.message,
                channels,
                cooldown,
                when,
            )
            for r in results
        ]
        check_channels(channels, self.config)
        return [self._apply(o) for o in observations]

    def _observation(
        self,
        monitor: str,
        check: str,
        breached: bool,
        value: float | None,
        threshold: float | None,
        message: str,
        channels: Sequence[str],
        cooldown: float | None,
        at: float | None,
    ) -> Observation:
        return check_observation(
            Observation(
                monitor,
                check,
                breached,
                value,
                threshold,
                message,
                # A bare string is not a list of channels: check_observation refuses it.
                channels if isinstance(channels, str) else tuple(channels),  # type: ignore[arg-type]
                self.cooldown if cooldown is None else cooldown,
                at,
            )
        )

    def _apply(self, observation: Observation) -> Evaluation:
        outcome = self.store.observe(observation)
        if outcome.notice is None or not outcome.notice.channels:
            return Evaluation(outcome.alert, outcome.notice)
        return Evaluation(self.deliver(outcome.notice), outcome.notice)

    def deliver(self, notice: Notice) -> Alert:
        """Send ``notice`` on each of its channels, retrying each a bounded number of times,
        and record the outcome; returns the alert with its deliveries."""
        results = [self._send(notice, url) for url in notice.channels]
        return self.store.record_deliveries(notice.alert.id, notice.number, results)

    def _send(self, notice: Notice, url: str) -> DeliveryResult:
        kind = url.partition(":")[0]
        channel: Channel = parse_channel(url)
        attempts = max(1, self.config.attempts)
        error = ""
        for attempt in range(1, attempts + 1):
            try:
                send(notice, channel, self.config.smtp, self.config.webhook)
            except (DeliveryFailed, OSError, ValueError) as exc:
                error = _describe(exc)
                ATTEMPTS.labels(kind, "failed").inc()
                if attempt < attempts:
                    self.sleep(self.config.backoff * 2 ** (attempt - 1))
                continue
            except UsinaError as exc:  # refused before sending (a webhook now resolving inward)
                error = _describe(exc)
                ATTEMPTS.labels(kind, "failed").inc()
                break
            except Exception as exc:  # a channel's failure never stops the others
                error = _describe(exc)
                ATTEMPTS.labels(kind, "failed").inc()
                log.exception("alert %d: sending to %s failed unexpectedly", notice.alert.id, url)
                break
            ATTEMPTS.labels(kind, "sent").inc()
            DELIVERIES.labels(kind, "sent").inc()
            return DeliveryResult(url, True, attempt)
        DELIVERIES.labels(kind, "failed").inc()
        log.warning(
            "alert %d (%s/%s): %s notice to %s failed after %d attempts: %s",
            notice.alert.id,
            notice.alert.monitor,
            notice.alert.check,
            notice.kind,
            url,
            attempt,
            error,
        )
        return DeliveryResult(url, False, attempt, error)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, DeliveryFailed | UsinaError) else f"{type(exc).__name__}: {text}"
