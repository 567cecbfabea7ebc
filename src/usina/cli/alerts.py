"""``usina alerts``: the alerts monitors raised, with how each channel took their notifications."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from usina.cli.context import client
from usina.cli.output import console, print_json, when

if TYPE_CHECKING:
    from usina.monitoring.alerts import Alert

app = typer.Typer(help="Alerts raised by monitors: list them.", no_args_is_help=True)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _deliveries(alert: Alert) -> str:
    """The latest delivery on each channel: ``log: sent``, ``webhook:... failed (3 tries):
    HTTP 500``."""
    lines = []
    for channel, d in alert.latest_deliveries().items():
        line = f"{channel} {d.status}"
        if d.attempts > 1 or d.error:
            line += f" ({d.attempts} {'try' if d.attempts == 1 else 'tries'})"
        if d.error:
            line += f": {d.error}"
        lines.append(line)
    return "\n".join(lines) or "-"


@app.command("list")
def list_alerts(
    state: Optional[str] = typer.Option(None, "--state", help="firing or resolved."),  # noqa: UP045
    monitor: Optional[str] = typer.Option(None, "--monitor", help="Only this monitor's alerts."),  # noqa: UP045
    check: Optional[str] = typer.Option(None, "--check", help="Only this check's alerts."),  # noqa: UP045
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=10_000, help="Most alerts shown."),
    json: bool = typer.Option(False, "--json", help="Print the alerts as JSON."),
) -> None:
    """Alerts, newest first: state, monitor, check, value, threshold, times, and the status of
    the latest notification on each channel (with its error when it failed)."""
    from rich.table import Table

    found = client().alerts.list(state=state, monitor=monitor, check=check, limit=limit)
    if json:
        print_json(found)
        return
    if not found:
        console.print("No alerts match.")
        return
    table = Table(
        "id",
        "state",
        "monitor",
        "check",
        "value",
        "threshold",
        "first seen",
        "last seen",
        "sent",
        "deliveries",
    )
    for a in found:
        sent = f"{a.notifications}, last {when(a.last_sent)}" if a.notifications else "0"
        table.add_row(
            str(a.id),
            str(a.state),
            a.monitor,
            a.check,
            _number(a.value),
            _number(a.threshold),
            when(a.first_seen),
            when(a.last_seen),
            sent,
            _deliveries(a),
        )
    console.print(table)


def register(root: typer.Typer) -> None:
    """Add the alert commands to the ``usina`` app."""
    root.add_typer(app, name="alerts")
