"""Monitor and alert pages: per-feature drift over time against its threshold, quality and
latency over time, the latest report; alerts with their state and deliveries."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from usina.monitoring.sql import SqlAlertStore
from usina.server.deps import backends
from usina.server.monitors import store as monitor_store
from usina.server.ui import charts
from usina.server.ui.render import page

router = APIRouter(prefix="/ui", include_in_schema=False)
HISTORY = 200  # runs of a monitor plotted
FEATURES = 12  # features plotted, the most drifted first
LATENCY = ("latency_p50", "latency_p95", "latency_p99")


@router.get("/monitors")
def monitors(request: Request) -> Response:
    """Monitors, with the status of their latest run."""
    store = monitor_store(request, "anonymous")
    rows = []
    for m in store.list()[:200]:
        latest = store.history(m.spec.name, limit=1)
        rows.append((m, latest[0] if latest else None))
    return page(request, "monitors.html", "Monitors", {"rows": rows}, section="monitors")


@router.get("/monitors/{name}")
def monitor(request: Request, name: str = Path(max_length=128)) -> Response:
    """One monitor: drift per feature over time, quality and operations over time, and the
    latest run's drift table."""
    from usina.monitoring.monitors import report_runs

    store = monitor_store(request, "anonymous")
    found = store.get(name)
    history = store.history(name, limit=HISTORY)
    runs = sorted(report_runs(found, history), key=lambda r: r.end)
    latest = runs[-1] if runs else None
    ranked = sorted(
        latest.drift if latest else [],
        key=lambda d: (not d.drifted, -(d.value or 0) / (d.threshold or 1)),
    )
    drift_charts = []
    for d in ranked[:FEATURES]:
        xs, ys, hits = [], [], []
        for r in runs:
            point = next((p for p in r.drift if p.feature == d.feature), None)
            if point is not None:
                xs.append(r.end)
                ys.append(point.value)
                hits.append(bool(point.drifted))
        state = "drifted" if d.drifted else "ok"
        drift_charts.append(
            (
                d,
                charts.lines(
                    "drift",
                    f"{d.feature}: {state}; drift ({d.metric}) over time",
                    [(d.feature, xs, ys)],
                    threshold=d.threshold,
                    breached=[hits],
                ),
            )
        )
    metric_charts = _metric_charts(runs)
    context: dict[str, Any] = {
        "monitor": found,
        "history": list(reversed(history))[:20],
        "latest": latest,
        "latest_run": history[0] if history else None,
        "ranked": ranked,
        "drift_charts": drift_charts,
        "metric_charts": metric_charts,
        "not_plotted": max(len(ranked) - FEATURES, 0),
    }
    return page(request, "monitor.html", f"Monitor {name}", context, section="monitors")


def _metric_charts(runs: list[Any]) -> list[Any]:
    """Quality metrics (each with its threshold), latency percentiles and error rate."""
    out = []
    xs = [r.end for r in runs]
    names = sorted({n for r in runs for n in r.metrics if n not in (*LATENCY, "error_rate")})
    for n in names:
        ys = [r.metrics[n].value if n in r.metrics else None for r in runs]
        if not any(v is not None for v in ys):
            continue
        point = next((r.metrics[n] for r in reversed(runs) if n in r.metrics), None)
        hits = [bool(r.metrics[n].breached) if n in r.metrics else False for r in runs]
        threshold = point.threshold if point is not None else None
        out.append(
            charts.lines(
                "quality",
                f"{n} over time",
                [(n, xs, ys)],
                threshold=threshold,
                breached=[hits],
                zero=False,
            )
        )
    if any(n in r.metrics for r in runs for n in LATENCY):
        values = [[r.metrics[n].value if n in r.metrics else None for r in runs] for n in LATENCY]
        out.append(charts.latency("Latency percentiles (ms)", xs, *values))
    if any("error_rate" in r.metrics for r in runs):
        ys = [r.metrics["error_rate"].value if "error_rate" in r.metrics else None for r in runs]
        point = next(r.metrics["error_rate"] for r in reversed(runs) if "error_rate" in r.metrics)
        out.append(
            charts.lines(
                "error_rate",
                "Error rate over time",
                [("error rate", xs, ys)],
                percent=True,
                threshold=point.threshold,
            )
        )
    return out


@router.get("/monitors/{name}/report")
def monitor_report(request: Request, name: str = Path(max_length=128)) -> Response:
    """The monitor's full report (as ``usina monitors report`` writes it): self-contained."""
    from usina.monitoring.monitors import report_runs, window_summaries
    from usina.monitoring.report import render_report

    store = monitor_store(request, "anonymous")
    found = store.get(name)
    runs = store.history(name, limit=HISTORY)
    reference = current = None
    latest = next((r for r in runs if r.figures.get("versions")), None)
    if latest is not None:
        main = max(latest.figures["versions"], key=lambda v: v["figures"].get("requests") or 0)
        pairs = window_summaries(
            found, backends(request).artifacts, latest.window_start, latest.window_end
        )
        reference, current = pairs.get(main["version"], (None, None))
    html = render_report(
        name,
        report_runs(found, runs),
        endpoint=found.spec.endpoint,
        profile=found.spec.profile,
        window=found.spec.window_s,
        reference=reference,
        current=current,
    )
    # The report names no icon; a browser would ask for /favicon.ico, which nothing serves.
    return HTMLResponse(html.replace("<head>", '<head><link rel="icon" href="data:,">', 1))


@router.get("/alerts")
def alerts(
    request: Request,
    state: str | None = Query(None, pattern="^(firing|resolved)$"),
    monitor: str | None = Query(None, max_length=128),
) -> Response:
    """Alerts, newest first, with their deliveries."""
    found = SqlAlertStore(backends(request).db).list(
        state=state or None, monitor=monitor or None, limit=200
    )
    context = {"alerts": found, "state": state or "", "monitor": monitor or ""}
    return page(request, "alerts.html", "Alerts", context, section="alerts")
