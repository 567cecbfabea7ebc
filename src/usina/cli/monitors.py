"""``usina monitors``: create, list, run and read the history of monitors; set a model
version's reference summary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from usina.cli.context import client
from usina.cli.output import console, print_json, when

if TYPE_CHECKING:
    from usina.client import Client
    from usina.monitoring.monitors import Monitor, MonitorRun

app = typer.Typer(help="Monitors of endpoints: drift, quality, latency.", no_args_is_help=True)


def _spec_file(path: Path) -> dict[str, Any]:
    from usina.errors import InvalidInput

    if not path.is_file():
        raise InvalidInput(f"no spec file {str(path)!r}", field="spec")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            found = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{str(path)!r} is not YAML: {exc}", field="spec") from None
    else:
        import json

        try:
            found = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"{str(path)!r} is not JSON: {exc}", field="spec") from None
    if not isinstance(found, dict):
        raise InvalidInput(f"{str(path)!r} does not hold an object of fields", field="spec")
    return found


def _show(m: Monitor) -> None:
    s = m.spec
    console.print(
        f"monitor {s.name}: endpoint {s.endpoint}, window {m.to_dict()['window']}, "
        f"schedule {s.schedule or 'on demand'}, profile {s.profile}"
        + (f", drift threshold {s.drift_threshold:g}" if s.drift_threshold is not None else "")
        + (f"; metrics {', '.join(t.text for t in s.thresholds)}" if s.thresholds else "")
        + (f"; alerts {', '.join(s.alerts)}" if s.alerts else ""),
        soft_wrap=True,
        markup=False,
    )


@app.command("create")
def create(
    name: Optional[str] = typer.Argument(None, help="The monitor's name (or 'name' in --spec)."),  # noqa: UP045
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="The endpoint to watch."),  # noqa: UP045
    window: Optional[str] = typer.Option(None, "--window", help="5m or more (default 1h)."),  # noqa: UP045
    schedule: Optional[str] = typer.Option(  # noqa: UP045
        None, "--schedule", help="Cron or @hourly; without one, the monitor runs on demand."
    ),
    drift_threshold: Optional[float] = typer.Option(  # noqa: UP045
        None, "--drift-threshold", help="Every feature's drift threshold (the profile's metric)."
    ),
    profile: Optional[str] = typer.Option(None, "--profile", help="vertex (default) or evidently."),  # noqa: UP045
    metric: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--metric", help="A threshold, repeatable: auc>=0.70, latency_p99<=50ms."
    ),
    alert: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--alert", help="Where breaches go, repeatable: email:ADDR, webhook:URL, log:NAME."
    ),
    task: Optional[str] = typer.Option(  # noqa: UP045
        None, "--task", help="classification or regression (default: inferred from labels)."
    ),
    delay: Optional[str] = typer.Option(  # noqa: UP045
        None, "--delay", help="End each window this long before the run (1d: labels arrived)."
    ),
    spec: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--spec", help="A YAML or JSON file of these fields; options given override it."
    ),
    json: bool = typer.Option(False, "--json", help="Print the monitor as JSON."),
) -> None:
    """Create a monitor of an endpoint (with --schedule, the scheduler runs it)."""
    fields: dict[str, Any] = _spec_file(spec) if spec is not None else {}
    given = {
        "name": name,
        "endpoint": endpoint,
        "window": window,
        "schedule": schedule,
        "drift_threshold": drift_threshold,
        "profile": profile,
        "metrics": metric or None,
        "alerts": alert or None,
        "task": task,
        "delay": delay,
    }
    fields.update({k: v for k, v in given.items() if v is not None})
    made = client().monitors.create(fields)
    if json:
        print_json(made.to_dict())
        return
    _show(made)


@app.command("list")
def list_monitors(json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Monitors by name."""
    found = client().monitors.list()
    if json:
        print_json([m.to_dict() for m in found])
        return
    if not found:
        console.print("No monitors.")
        return
    from rich.table import Table

    table = Table("name", "endpoint", "window", "schedule", "metrics", "alerts")
    for m in found:
        d = m.to_dict()
        table.add_row(
            m.name,
            m.spec.endpoint,
            d["window"],
            m.spec.schedule or "-",
            ", ".join(d["metrics"]) or "-",
            ", ".join(d["alerts"]) or "-",
        )
    console.print(table)


@app.command("get")
def get(
    name: str = typer.Argument(..., help="The monitor's name."),
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One monitor."""
    found = client().monitors.get(name)
    if json:
        print_json(found.to_dict())
        return
    _show(found)


@app.command("delete")
def delete(
    name: str = typer.Argument(..., help="The monitor's name."),
    json: bool = typer.Option(False, "--json", help="Print what was deleted as JSON."),
) -> None:
    """Delete a monitor, its schedule and its runs."""
    client().monitors.delete(name)
    if json:
        print_json({"deleted": name})
        return
    console.print(f"monitor {name} deleted")


def _breaches(run: MonitorRun) -> None:
    for b in run.breaches:
        console.print(f"  BREACH v{b['version']}: {b['text']}", markup=False, soft_wrap=True)


def alerting(c: Client) -> Client:
    """``c``, its monitor runs raising alerts on their channels with the ``USINA_SMTP_*``,
    ``USINA_WEBHOOK_*`` and ``USINA_ALERT_*`` settings. Through a server, the server runs the
    monitor and sends the alerts with its own settings."""
    from usina.monitoring.monitors_sql import SqlMonitorStore

    monitors = c.monitors
    if isinstance(monitors, SqlMonitorStore) and monitors.alerter is None:
        from usina.monitoring.alerter import Alerter
        from usina.secrets.references import resolve_references
        from usina.settings import Settings

        settings = resolve_references(Settings(), lambda: c.secrets)
        monitors.alerter = Alerter.from_settings(c.alerts, settings)
    return c


@app.command("run")
def run(
    name: str = typer.Argument(..., help="The monitor's name."),
    end: Optional[str] = typer.Option(  # noqa: UP045
        None, "--end", help="The window's end: 2026-12-01T10:00Z, seconds since 1970, 2h ago."
    ),
    json: bool = typer.Option(False, "--json", help="Print the run as JSON."),
) -> None:
    """Run a monitor now over its window (ending now, or at --end), and store the run.

    Exits 0 whatever it finds (a breach is data, not a failure); 1 when the run failed."""
    from usina.audit.checks import parse_time

    done = alerting(client()).monitors.run(name, None if end is None else parse_time(end, "end"))
    if json:
        print_json(done)
    else:
        console.print(
            f"monitor {name} {done.status}: window {when(done.window_start)} to "
            f"{when(done.window_end)}, {done.seconds:.2f}s",
            soft_wrap=True,
        )
        for v in done.figures.get("versions", []):
            figures = ", ".join(f"{k} {_fmt(x)}" for k, x in v["figures"].items())
            console.print(f"  v{v['version']}: {figures}", markup=False, soft_wrap=True)
        _breaches(done)
        if done.error:
            console.print(f"  error: {done.error}", markup=False, soft_wrap=True)
    if done.status == "failed":
        raise typer.Exit(1)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@app.command("history")
def history(
    name: str = typer.Argument(..., help="The monitor's name."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000, help="Most runs shown."),
    json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """Each feature's drift and each figure over time, newest window first (one row per run
    and model version; a drifted feature is marked *)."""
    runs = client().monitors.history(name, limit=limit)
    if json:
        print_json(runs)
        return
    if not runs:
        console.print(f"No runs of monitor {name} yet.")
        return
    from rich.table import Table

    features: list[str] = []
    metrics: list[str] = []
    for r in runs:
        for v in r.figures.get("versions", []):
            features += [f for f in v.get("drift") or {} if f not in features]
            metrics += [m for m in v["figures"] if m not in metrics]
    table = Table("window end", "status", "version", *metrics, *(f"drift {f}" for f in features))
    for r in runs:
        versions = r.figures.get("versions") or [None]
        for v in versions:
            if v is None:
                table.add_row(
                    when(r.window_end), r.status, "-", *[""] * (len(metrics) + len(features))
                )
                continue
            drift = v.get("drift") or {}
            cells = [_fmt(v["figures"][m]) if m in v["figures"] else "" for m in metrics]
            for f in features:
                d = drift.get(f)
                cells.append("" if d is None else _fmt(d["value"]) + (" *" if d["drifted"] else ""))
            table.add_row(when(r.window_end), r.status, str(v["version"]), *cells)
    console.print(table)


@app.command("report")
def report(
    name: str = typer.Argument(..., help="The monitor's name."),
    out: Path = typer.Option(
        Path("report.html"), "--out", "-o", help="Where to write the HTML report."
    ),
    limit: int = typer.Option(200, "--limit", "-n", min=1, max=5000, help="Most runs shown."),
    features: int = typer.Option(
        20, "--features", min=1, max=500, help="Most features plotted (the most drifted first)."
    ),
) -> None:
    """Write a self-contained HTML report of a monitor: drift per feature over time with its
    threshold, reference against current histograms of the latest window, quality and latency
    over time. It needs no network to view (inline SVG and CSS, no scripts)."""
    from usina.monitoring.monitors import report_runs, window_summaries
    from usina.monitoring.report import write_report

    c = client()
    monitor = c.monitors.get(name)
    runs = c.monitors.history(name, limit=limit)
    reference = current = None
    latest = next((r for r in runs if r.figures.get("versions")), None)
    if latest is not None:
        main = max(latest.figures["versions"], key=lambda v: v["figures"].get("requests") or 0)
        pairs = window_summaries(monitor, c.artifacts, latest.window_start, latest.window_end)
        reference, current = pairs.get(main["version"], (None, None))
    written = write_report(
        out,
        name,
        report_runs(monitor, runs),
        endpoint=monitor.spec.endpoint,
        profile=monitor.spec.profile,
        window=monitor.spec.window_s,
        reference=reference,
        current=current,
        max_features=features,
    )
    console.print(f"report of monitor {name} ({len(runs)} runs) written to {written}")


@app.command("reference")
def reference(
    uri: str = typer.Argument(..., help="The model version: models:/credit-risk/3 or @champion."),
    file: Path = typer.Argument(..., help="CSV or Parquet of the data it was trained on."),
    trusted: bool = typer.Option(
        False, "--trusted", help="Load a pickled model to predict on the data."
    ),
    json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Set (or replace) a model version's reference summary from a data file; monitors compare
    live windows with it, and never read the file again."""
    from usina.errors import InvalidInput

    if not file.is_file():
        raise InvalidInput(f"no file {str(file)!r}", field="file")
    if file.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        data = pq.read_table(file).to_pandas()
    elif file.suffix.lower() == ".csv":
        import pandas as pd

        data = pd.read_csv(file)
    else:
        raise InvalidInput(f"{str(file)!r} is neither .csv nor .parquet", field="file")
    summary = client().set_reference(uri, data, trusted=trusted)
    if json:
        print_json(summary.to_dict())
        return
    what = ", ".join(summary.names)
    console.print(
        f"reference of {uri} set from {summary.rows} rows: {what}", markup=False, soft_wrap=True
    )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="monitors")
