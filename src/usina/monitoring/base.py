"""The alert store protocol: where alert state lives, so deduplication and cooldowns hold
across restarts and across every process that observes the same checks.

``SqlAlertStore`` keeps it in the metadata database; ``HttpAlertStore`` through a server. The
``Alerter`` (``usina.monitoring.alerter``) decides nothing itself: ``observe`` decides, in one
transaction, whether a notification is due, and the caller sends it and records how each
channel took it. ``usina.testing.check_alert_store`` checks a backend.

Example:
    >>> import usina
    >>> from usina.monitoring.alerts import Observation
    >>> client = usina.Client("sqlite://", "memory://")
    >>> first = client.alerts.observe(Observation("drift", "psi", True, 0.3, 0.2, time=100.0))
    >>> first.notice.kind, first.alert.state
    (<NoticeKind.FIRING: 'firing'>, <AlertState.FIRING: 'firing'>)
    >>> client.alerts.observe(Observation("drift", "psi", True, 0.4, 0.2, time=160.0)).notice
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Protocol

from usina.monitoring.alerts import Alert, DeliveryResult, Observation, Outcome


class AlertStore(Protocol):
    """Alert state: observe checks, record deliveries, list alerts."""

    def observe(self, observation: Observation) -> Outcome:
        """Apply one observation of a check, serialised with every other observer of it.

        A breach with no firing alert opens one and asks for its first notification; a breach
        while one fires updates it (value, threshold, message, last seen) and asks for a
        reminder only once ``cooldown`` seconds have passed since the last notification; a
        cleared check resolves the firing alert and asks for the resolution notice; a cleared
        check with no firing alert changes nothing. A notification asked for is claimed in the
        same transaction (counted, its deliveries pending), so no other process sends it.
        """
        ...

    def record_deliveries(
        self, alert_id: int, notification: int, results: Iterable[DeliveryResult]
    ) -> Alert:
        """Record how each channel took notification ``notification`` of alert ``alert_id``;
        returns the alert with its deliveries."""
        ...

    def get(self, alert_id: int) -> Alert:
        """One alert with its deliveries; ``NotFound`` when there is none."""
        ...

    def list(
        self,
        *,
        state: str | None = None,
        monitor: str | None = None,
        check: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[Alert]:
        """Alerts with their deliveries, newest first (by id), filtered exactly."""
        ...
