"""Monitoring: checks on what models see and answer, and the alerts their breaches raise.

Alerts: ``usina.monitoring.alerter.Alerter`` turns check results into alerts and sends them to
channels (``email:``, ``webhook:``, ``log:``; ``usina.monitoring.channels``); the alert state
lives in an ``AlertStore`` (``usina.monitoring.base``), on the database (``sql``) or through a
server (``http``). See docs/monitoring.md.

Nothing heavy is imported here: each module is imported where it is used.
"""

__all__: list[str] = []
