"""A monitor's runs as one self-contained HTML page: status, drift table and plots.

The page has no script, no font, no stylesheet and no image to fetch: its CSS is inline and
every plot is an SVG drawn here, so it opens offline, in a mail attachment, and without
JavaScript. Every name that comes from users (monitor, endpoint, features, categories,
metrics) is escaped.

The input is small frozen records that a monitor's run history adapts to: one
:class:`ReportRun` per checked window, with its per-feature drift (any object with
``feature``, ``metric``, ``value``, ``threshold`` and ``drifted``, such as a
:class:`~usina.monitoring.drift.FeatureDrift`), its other checks as :class:`MetricPoint` by
name, and its row count. The latest window's reference and current :class:`Summary` give the
histograms.

    >>> from usina.monitoring.report import MetricPoint, ReportRun, render_report
    >>> run = ReportRun(0.0, 3600.0, [], {"accuracy": MetricPoint(0.91, 0.8, "<", False)}, 500)
    >>> page = render_report("credit-drift", [run], endpoint="credit", window=3600)
    >>> page.startswith("<!DOCTYPE html>")
    True
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Protocol, TypeGuard

from usina.monitoring.metrics import P_VALUES
from usina.monitoring.summaries import CategoricalSummary, NumericSummary, Summary

# Checks named like these are operations (latency, errors); every other metric is quality.
LATENCY = ("latency_p50", "latency_p95", "latency_p99")
ERROR_RATE = "error_rate"
OPERATIONS = (*LATENCY, ERROR_RATE)
DEFAULT_MAX_FEATURES = 20
DASH = "\u2013"  # shown for a missing value
MINUS = "\u2212"

REFERENCE = "#7b8ba3"
CURRENT = "#f28e2b"
BREACH = "#d62728"
THRESHOLD = "#555f6d"
OK = "#2e8540"
PALETTE = ("#1f77b4", "#9467bd", "#2ca02c", "#8c564b", "#e377c2", "#17becf")
LATENCY_COLOURS = {"latency_p50": "#1f77b4", "latency_p95": "#9467bd", "latency_p99": "#8c564b"}


class DriftPoint(Protocol):
    """One feature's drift in one run (:class:`~usina.monitoring.drift.FeatureDrift` is one)."""

    @property
    def feature(self) -> str: ...

    @property
    def metric(self) -> str: ...

    @property
    def value(self) -> float | None: ...

    @property
    def threshold(self) -> float: ...

    @property
    def drifted(self) -> bool: ...


@dataclass(frozen=True)
class MetricPoint:
    """One check other than drift in one run: it breaches when ``value op threshold``
    (``op`` is ``">"``, ``">="``, ``"<"`` or ``"<="``). ``value`` is ``None`` when there was
    nothing to measure (labels not arrived yet); ``threshold`` is ``None`` when the metric is
    only recorded."""

    value: float | None
    threshold: float | None = None
    op: str = ">"
    breached: bool = False


@dataclass(frozen=True)
class ReportRun:
    """One checked window: its time range (epoch seconds), the drift of each feature, the other
    checks by name (quality metrics, and ``latency_p50``/``p95``/``p99`` and ``error_rate``),
    and the rows it held."""

    start: float
    end: float
    drift: Sequence[DriftPoint] = ()
    metrics: Mapping[str, MetricPoint] = field(default_factory=dict)
    volume: int = 0


# -- numbers, times and text ----------------------------------------------------------------


def _finite(value: float | None) -> TypeGuard[float]:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


def _num(value: float | None) -> str:
    if not _finite(value):
        return DASH
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.2e}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _time(epoch: float, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(fmt)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (about ``count`` of them)."""
    span = high - low
    raw = span / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


# -- SVG charts -----------------------------------------------------------------------------

WIDTH, HEIGHT = 560, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 18, 46, 44


@dataclass
class _Series:
    name: str
    colour: str
    xs: list[float]
    ys: list[float | None]
    dashed: bool = False
    breached: list[bool] | None = None


# The public name of a chart's series: the web console draws its time series with line_chart.
Series = _Series


def _svg_open(kind: str, title: str, height: int = HEIGHT) -> list[str]:
    return [
        f'<svg class="chart" data-chart="{_e(kind)}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
        f'<text class="ct" x="{LEFT}" y="18">{_e(_short(title, 62))}</text>',
    ]


def _y_axis(
    parts: list[str],
    ticks: list[float],
    y: Callable[[float], float],
    fmt: Callable[[float], str],
    height: int,
) -> None:
    for tick in ticks:
        py = y(tick)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py:.1f}" y2="{py:.1f}"/>'
            f'<text class="tl" x="{LEFT - 6}" y="{py + 3.5:.1f}" text-anchor="end">'
            f"{_e(fmt(tick))}</text>"
        )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{height - BOTTOM}" '
        f'y2="{height - BOTTOM}"/>'
    )


def _legend(parts: list[str], items: Sequence[tuple[str, str, str]]) -> None:
    """Legend entries (name, colour, style: line / dash / box / dot) at the top right."""
    x = WIDTH - RIGHT
    for name, colour, style in reversed(items):
        label = _short(name, 18)
        x -= 7 * len(label) + 26
        if style == "box":
            mark = f'<rect x="{x}" y="25" width="12" height="10" fill="{colour}" opacity=".85"/>'
        elif style == "dot":
            mark = f'<circle cx="{x + 6}" cy="30" r="4" fill="{colour}"/>'
        else:
            dash = ' stroke-dasharray="5 3"' if style == "dash" else ""
            mark = (
                f'<line x1="{x}" x2="{x + 14}" y1="30" y2="30" stroke="{colour}" '
                f'stroke-width="2"{dash}/>'
            )
        parts.append(f'{mark}<text class="lg" x="{x + 18}" y="34">{_e(label)}</text>')


def line_chart(
    kind: str,
    title: str,
    series: Sequence[_Series],
    *,
    percent: bool = False,
    zero: bool = False,
) -> str:
    """A time-series chart: one line per series, gaps where a value is missing, a point where
    a line has a single value, and breaching values marked in red."""
    parts = _svg_open(kind, title)
    xs = [x for s in series for x in s.xs]
    ys = [y for s in series for y in s.ys if _finite(y)]
    if not xs or not ys:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
            "no values to plot</text></svg>"
        )
        return "".join(parts)
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1800, x1 + 1800
    low, high = min(ys), max(ys)
    if zero:
        low = min(low, 0.0)
    if high == low:
        pad = abs(high) * 0.1 or 1.0
        # All zero on a zero-based chart (no errors, say): 0 to 1, not a negative axis.
        low, high = (low if zero and low == 0 else low - pad), high + pad
    else:  # keep lines off the frame (a threshold on the axis is hard to see)
        pad = (high - low) * 0.05
        low, high = (low if zero and low == 0 else low - pad), high + pad
    ticks = _nice_ticks(low, high)
    low, high = min(low, ticks[0]), max(high, ticks[-1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_at(x: float) -> float:
        return LEFT + 8 + (x - x0) / (x1 - x0) * (plot_w - 16)

    def y_at(y: float) -> float:
        return TOP + (high - y) / (high - low) * plot_h

    def y_label(v: float) -> str:
        return f"{v:.0%}" if percent and abs(high - low) >= 0.05 else _num(v)

    _y_axis(parts, ticks, y_at, y_label, HEIGHT)
    span = x1 - x0
    fmt = "%m-%d %H:%M" if span < 3 * 86400 else "%Y-%m-%d"
    for i in range(5):
        t = min(xs) + (max(xs) - min(xs)) * i / 4 if max(xs) > min(xs) else xs[0]
        px = x_at(t)
        parts.append(
            f'<line class="axis" x1="{px:.1f}" x2="{px:.1f}" y1="{HEIGHT - BOTTOM}" '
            f'y2="{HEIGHT - BOTTOM + 4}"/><text class="tl" x="{px:.1f}" '
            f'y="{HEIGHT - BOTTOM + 16}" text-anchor="{"end" if i == 4 else "middle"}">'
            f"{_time(t, fmt)}</text>"
        )
        if max(xs) == min(xs):
            break
    parts.append(
        f'<text class="tl" x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end">'
        "window end (UTC)</text>"
    )
    dense = len(xs) / max(len(series), 1) > 40
    for s in series:
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        segment: list[str] = []
        for x, y in [*zip(s.xs, s.ys, strict=True), (0.0, None)]:
            if _finite(y):
                segment.append(f"{x_at(x):.1f},{y_at(y):.1f}")
                continue
            if len(segment) > 1:
                parts.append(
                    f'<polyline fill="none" stroke="{s.colour}" stroke-width="2"{dash} '
                    f'points="{" ".join(segment)}"/>'
                )
            if len(segment) == 1 and s.dashed:
                # A threshold known at one time only: a short level mark (the whole width
                # when there is a single window).
                cx, cy = (float(v) for v in segment[0].split(","))
                reach = plot_w / 2 if max(xs) == min(xs) else 12.0
                left, right = max(cx - reach, LEFT), min(cx + reach, WIDTH - RIGHT)
                parts.append(
                    f'<line x1="{left:.1f}" x2="{right:.1f}" y1="{cy:.1f}" y2="{cy:.1f}" '
                    + f'stroke="{s.colour}" stroke-width="2"{dash}/>'
                )
            elif (len(segment) == 1 or not dense) and not s.dashed:
                for point in segment:
                    mx, my = point.split(",")
                    parts.append(f'<circle cx="{mx}" cy="{my}" r="2.8" fill="{s.colour}"/>')
            segment = []
        for x, y, hit in zip(s.xs, s.ys, s.breached or [], strict=False):
            if hit and _finite(y):
                parts.append(
                    f'<circle class="breach" cx="{x_at(x):.1f}" cy="{y_at(y):.1f}" r="4.5" '
                    f'fill="{BREACH}" stroke="#fff" stroke-width="1.2">'
                    f"<title>{_e(s.name)} {_num(y)} at {_time(x)} UTC: breach</title></circle>"
                )
    items = [(s.name, s.colour, "dash" if s.dashed else "line") for s in series]
    if any(any(s.breached or []) for s in series):
        items.append(("breach", BREACH, "dot"))
    _legend(parts, items)
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    kind: str,
    title: str,
    groups: Sequence[tuple[str, str, Sequence[float]]],
    *,
    labels: Sequence[str] = (),
    boundaries: Sequence[str] = (),
    tips: Sequence[str] = (),
) -> str:
    """Grouped bars of shares (0 to 1): one group per bin or category, one bar per series.

    ``labels`` name each group under it (slanted); ``boundaries`` (one more than the groups)
    label the edges between groups instead, as for numeric bins."""
    height = HEIGHT + (36 if labels else 0)
    parts = _svg_open(kind, title, height)
    n = max((len(values) for _, _, values in groups), default=0)
    if n == 0:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle">'
            "no values to plot</text></svg>"
        )
        return "".join(parts)
    high = max([v for _, _, values in groups for v in values if _finite(v)] or [1.0]) or 1.0
    ticks = _nice_ticks(0.0, high)
    high = ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, height - TOP - BOTTOM - (36 if labels else 0)
    bottom = TOP + plot_h

    def y_at(v: float) -> float:
        return TOP + (high - v) / high * plot_h

    _y_axis(parts, ticks, y_at, lambda v: f"{v:.0%}" if high >= 0.05 else f"{v:.1%}", height)
    parts[-1] = f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{bottom}" y2="{bottom}"/>'
    slot = plot_w / n
    bar = slot * 0.8 / max(len(groups), 1)
    for i in range(n):
        tip = _e(tips[i]) if i < len(tips) else ""
        parts.append(f"<g><title>{tip}</title>" if tip else "<g>")
        for j, (_, colour, values) in enumerate(groups):
            v = values[i] if i < len(values) else None
            if not _finite(v):
                continue
            top = y_at(v)
            x = LEFT + i * slot + slot * 0.1 + j * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{max(bar - 0.5, 0.8):.1f}" '
                f'height="{bottom - top:.1f}" fill="{colour}" opacity=".85"/>'
            )
        parts.append("</g>")
    if labels:
        step = max(1, math.ceil(n / 24))
        for i in range(0, n, step):
            cx = LEFT + (i + 0.5) * slot
            parts.append(
                f'<text class="tl" transform="translate({cx:.1f},{bottom + 10}) rotate(-35)" '
                f'text-anchor="end">{_e(_short(labels[i], 14))}</text>'
            )
    elif boundaries:
        step = max(1, math.ceil(n / 7))
        for i in range(0, n + 1, step):
            px = LEFT + i * slot
            parts.append(
                f'<line class="axis" x1="{px:.1f}" x2="{px:.1f}" y1="{bottom}" '
                f'y2="{bottom + 4}"/><text class="tl" x="{px:.1f}" y="{bottom + 16}" '
                f'text-anchor="{"end" if i == n else "middle"}">{_e(boundaries[i])}</text>'
            )
    _legend(parts, [(name, colour, "box") for name, colour, _ in groups])
    parts.append("</svg>")
    return "".join(parts)


# -- the report's parts ---------------------------------------------------------------------


def _severity(point: DriftPoint) -> float:
    """How far past (or short of) its threshold a feature's drift is: above 1 is drift.

    A p-value drifts when it is small, so its ratio is inverted."""
    value, threshold = point.value, point.threshold
    if not _finite(value):
        return -math.inf
    if point.metric in P_VALUES:
        return threshold / max(value, 1e-300)
    return value / threshold if threshold else value


def _ranked(drift: Sequence[DriftPoint]) -> list[DriftPoint]:
    return sorted(drift, key=lambda d: (not d.drifted, -_severity(d), d.feature))


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else math.nan for c in counts]


def _histogram(name: str, reference: Summary | None, current: Summary | None) -> str:
    if reference is None or current is None or name not in reference or name not in current:
        return '<p class="muted">No summaries of the latest window to compare.</p>'
    ref, cur = reference[name], current[name]
    title = f"{name}: reference vs current window"
    missing = f"missing: reference {ref.missing_rate:.1%}, current {cur.missing_rate:.1%}"
    if isinstance(ref, NumericSummary) and isinstance(cur, NumericSummary):
        if len(ref.counts) != len(cur.counts):
            return '<p class="muted">The summaries do not share bins.</p>'
        used = [i for i, (a, b) in enumerate(zip(ref.counts, cur.counts, strict=True)) if a or b]
        lo, hi = (used[0], used[-1]) if used else (0, len(ref.counts) - 1)
        ext = [-math.inf, *ref.edges, math.inf]
        bounds = [
            MINUS + "∞" if e == -math.inf else "+∞" if e == math.inf else _num(e)
            for e in ext[lo : hi + 2]
        ]
        tips = [f"[{bounds[i]}, {bounds[i + 1]})" for i in range(hi - lo + 1)]
        ref_shares = _shares(ref.counts)[lo : hi + 1]
        cur_shares = _shares(cur.counts)[lo : hi + 1]
        tips = [
            f"{t}: reference {r:.1%}, current {c:.1%}"
            for t, r, c in zip(tips, ref_shares, cur_shares, strict=True)
        ]
        chart = bar_chart(
            "histogram",
            title,
            [("reference", REFERENCE, ref_shares), ("current", CURRENT, cur_shares)],
            boundaries=bounds,
            tips=tips,
        )
    elif isinstance(ref, CategoricalSummary) and isinstance(cur, CategoricalSummary):
        labels = list(ref.categories)
        ref_counts, cur_counts = list(ref.counts), list(cur.counts)
        if ref.other or cur.other:
            labels.append("(other)")
            ref_counts.append(ref.other)
            cur_counts.append(cur.other)
        ref_shares, cur_shares = _shares(ref_counts), _shares(cur_counts)
        tips = [
            f"{label}: reference {r:.1%}, current {c:.1%}"
            for label, r, c in zip(labels, ref_shares, cur_shares, strict=True)
        ]
        chart = bar_chart(
            "histogram",
            title,
            [("reference", REFERENCE, ref_shares), ("current", CURRENT, cur_shares)],
            labels=labels,
            tips=tips,
        )
        if cur.unseen:
            seen = ", ".join(_short(k, 30) for k in list(cur.unseen)[:5])
            missing += f"; new categories ({cur.unseen_rows} rows, in other): {seen}"
    else:
        return '<p class="muted">The summaries disagree on the kind of this column.</p>'
    return f'{chart}<p class="note">{_e(missing)}</p>'


def _drift_series(
    runs: Sequence[ReportRun], by_name: Sequence[Mapping[str, DriftPoint]], name: str
) -> list[_Series]:
    xs: list[float] = []
    values: list[float | None] = []
    limits: list[float | None] = []
    hits: list[bool] = []
    metric = ""
    for run, points in zip(runs, by_name, strict=True):
        point = points.get(name)
        xs.append(run.end)
        values.append(point.value if point else None)
        limits.append(point.threshold if point else None)
        hits.append(bool(point and point.drifted))
        metric = point.metric if point else metric
    return [
        _Series(metric or "drift", CURRENT, xs, values, breached=hits),
        _Series("threshold", THRESHOLD, xs, limits, dashed=True),
    ]


def _metric_series(
    runs: Sequence[ReportRun], name: str, colour: str, label: str | None = None
) -> list[_Series]:
    xs = [run.end for run in runs]
    points = [run.metrics.get(name) for run in runs]
    found = [
        _Series(
            label or name,
            colour,
            xs,
            [p.value if p else None for p in points],
            breached=[bool(p and p.breached) for p in points],
        )
    ]
    limits = [p.threshold if p else None for p in points]
    if any(_finite(v) for v in limits):
        found.append(_Series(f"{label or name} threshold", colour, xs, limits, dashed=True))
    return found


def _header(
    monitor: str,
    runs: Sequence[ReportRun],
    endpoint: str | None,
    profile: str | None,
    window: str | float | None,
    generated: float,
) -> str:
    if isinstance(window, int | float):
        window = _duration(float(window))
    facts = [
        ("Endpoint", endpoint or DASH),
        ("Profile", profile or DASH),
        ("Window", window or DASH),
        ("Runs", str(len(runs))),
    ]
    if runs:
        first, last = min(r.start for r in runs), max(r.end for r in runs)
        facts.append(("Time range", f"{_time(first)} {DASH} {_time(last)} UTC"))
    facts.append(("Generated", f"{_time(generated)} UTC"))
    cells = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in facts)
    if not runs:
        status = '<span class="badge idle">no runs yet</span>'
        breaching = ""
    else:
        latest = runs[-1]
        checks = [f"drift: {d.feature}" for d in _ranked(latest.drift) if d.drifted]
        checks += [name for name, point in sorted(latest.metrics.items()) if point.breached]
        if checks:
            status = f'<span class="badge bad">{len(checks)} breaching</span>'
            shown = "".join(f"<li>{_e(_short(c, 80))}</li>" for c in checks[:15])
            more = f"<li>and {len(checks) - 15} more</li>" if len(checks) > 15 else ""
            breaching = (
                f'<div class="status"><strong>Breaching in the latest window:</strong>'
                f"<ul>{shown}{more}</ul></div>"
            )
        else:
            status = '<span class="badge good">all checks pass</span>'
            breaching = '<div class="status ok">No check breaches in the latest window.</div>'
    return (
        f'<header><h1>Monitor <span class="name">{_e(monitor)}</span> {status}</h1>'
        f'<dl class="facts">{cells}</dl>{breaching}</header>'
    )


def _drift_table(ranked: Sequence[DriftPoint], plotted: set[str]) -> str:
    if not ranked:
        return '<p class="muted">The latest run measured no feature drift.</p>'
    rows = []
    for i, d in enumerate(ranked):
        name = _e(d.feature)
        if d.feature in plotted:
            name = f'<a href="#feature-{i}">{name}</a>'
        mark = (
            '<span class="badge bad">● drifted</span>'
            if d.drifted
            else '<span class="badge good">ok</span>'
        )
        direction = "below" if d.metric in P_VALUES else "above"
        rows.append(
            f'<tr class="{"drifted" if d.drifted else ""}"><td class="feat">{name}</td>'
            f'<td>{_e(d.metric)}</td><td class="n">{_num(d.value)}</td>'
            f'<td class="n">{_num(d.threshold)} <span class="muted">({direction})</span></td>'
            f"<td>{mark}</td></tr>"
        )
    return (
        '<table class="drift"><thead><tr><th>Feature</th><th>Metric</th><th>Value</th>'
        "<th>Threshold (drift when)</th><th>Status</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _features(
    runs: Sequence[ReportRun],
    ranked: Sequence[DriftPoint],
    reference: Summary | None,
    current: Summary | None,
    limit: int,
) -> str:
    cards = []
    by_name = [{d.feature: d for d in run.drift} for run in runs]
    for i, d in enumerate(ranked[:limit]):
        badge = (
            '<span class="badge bad">● drifted</span>'
            if d.drifted
            else '<span class="badge good">ok</span>'
        )
        series = _drift_series(runs, by_name, d.feature)
        trend = line_chart("drift", f"{d.feature}: {d.metric} over time", series, zero=True)
        cards.append(
            f'<section class="card" id="feature-{i}"><h3><span class="feat">{_e(d.feature)}'
            f"</span> {badge}</h3>"
            f'<div class="pair"><div>{trend}</div>'
            f"<div>{_histogram(d.feature, reference, current)}</div></div></section>"
        )
    left = len(ranked) - limit
    if left > 0:
        cards.append(
            f'<p class="note">{left} more feature{"s" if left != 1 else ""} not plotted (the '
            f"{limit} with the most drift are); every feature is in the table above.</p>"
        )
    return "".join(cards)


def _quality(runs: Sequence[ReportRun]) -> str:
    names = sorted(
        {name for run in runs for name in run.metrics if name not in (*OPERATIONS, "volume")}
    )
    measured = [
        name
        for name in names
        if any(_finite(run.metrics[name].value) for run in runs if name in run.metrics)
    ]
    if not measured:
        return (
            '<p class="muted">Labels have not arrived yet: no window has quality metrics. '
            "They appear once ground truth for the logged requests is joined.</p>"
        )
    note = ""
    latest = runs[-1].metrics
    if not any(_finite(latest[n].value) for n in measured if n in latest):
        note = '<p class="note">Labels for the latest window have not arrived yet.</p>'
    charts = []
    for name in measured:
        limit = next((p for p in (r.metrics.get(name) for r in reversed(runs)) if p), None)
        rule = ""
        if limit is not None and _finite(limit.threshold):
            rule = f" (breach when {limit.op} {_num(limit.threshold)})"
        series = _metric_series(runs, name, PALETTE[0])
        charts.append(line_chart("metric", f"{name} over time{rule}", series))
    return note + '<div class="grid">' + "".join(f"<div>{c}</div>" for c in charts) + "</div>"


def _operations(runs: Sequence[ReportRun]) -> str:
    charts = []
    present = [name for name in LATENCY if any(name in run.metrics for run in runs)]
    if present:
        series = [
            s
            for name in present
            for s in _metric_series(runs, name, LATENCY_COLOURS[name], name.split("_")[1])
        ]
        charts.append(line_chart("latency", "Latency percentiles", series, zero=True))
    if any(ERROR_RATE in run.metrics for run in runs):
        series = _metric_series(runs, ERROR_RATE, BREACH, "error rate")
        series[0].colour = "#bc5090"
        charts.append(line_chart("error_rate", "Error rate", series, percent=True, zero=True))
    volume = [_Series("rows", PALETTE[0], [r.end for r in runs], [float(r.volume) for r in runs])]
    charts.append(line_chart("volume", "Volume (rows per window)", volume, zero=True))
    return '<div class="grid">' + "".join(f"<div>{c}</div>" for c in charts) + "</div>"


STYLE = """
body{margin:0;background:#f5f6f8;color:#1f2933;font:14px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1220px;margin:0 auto;padding:24px}
header{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:18px 22px}
h1{margin:0 0 12px;font-size:22px;font-weight:600;overflow-wrap:anywhere}
h1 .name{font-family:ui-monospace,Menlo,Consolas,monospace}
h2{font-size:18px;margin:28px 0 10px;font-weight:600}
h3{font-size:15px;margin:0 0 8px;font-weight:600;overflow-wrap:anywhere}
.facts{display:flex;flex-wrap:wrap;gap:8px 32px;margin:0}
.facts dt{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:#616e7c}
.facts dd{margin:0;font-weight:500;overflow-wrap:anywhere}
.status{margin-top:14px;padding:10px 14px;border-left:4px solid #d62728;background:#fdf0f0}
.status.ok{border-color:#2e8540;background:#eef7f0}
.status ul{margin:4px 0 0;padding-left:20px;columns:2}
.badge{display:inline-block;font-size:12px;font-weight:600;padding:2px 8px;border-radius:10px;
vertical-align:middle;white-space:nowrap}
.badge.bad{background:#d62728;color:#fff}.badge.good{background:#e3f1e6;color:#2e8540}
.badge.idle{background:#e4e7eb;color:#52606d}
.card,.panel{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:14px 16px;
margin:0 0 14px}
.pair,.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:12px}
svg.chart{width:100%;height:auto;display:block}
svg .ct{font-size:13px;font-weight:600;fill:#1f2933}
svg .tl,svg .lg{font-size:11px;fill:#52606d}
svg .empty{font-size:13px;fill:#9aa5b1}
svg .grid{stroke:#e4e7eb}svg .axis{stroke:#9aa5b1}
table.drift{width:100%;border-collapse:collapse;background:#fff;border:1px solid #dde1e6}
table.drift th,table.drift td{padding:6px 10px;border-bottom:1px solid #eef0f2;text-align:left}
table.drift th{background:#f0f2f5;font-size:12px;color:#52606d}
table.drift td.n{text-align:right;font-variant-numeric:tabular-nums}
table.drift tr.drifted td{background:#fff6f6}
.feat{font-family:ui-monospace,Menlo,Consolas,monospace;overflow-wrap:anywhere;word-break:break-all}
.muted{color:#7b8794}.note{color:#52606d;font-size:13px;margin:6px 0}
a{color:#1f5fa8}
footer{color:#7b8794;font-size:12px;margin-top:24px}
"""


def render_report(
    monitor: str,
    runs: Sequence[ReportRun],
    *,
    endpoint: str | None = None,
    profile: str | None = None,
    window: str | float | None = None,
    reference: Summary | None = None,
    current: Summary | None = None,
    max_features: int = DEFAULT_MAX_FEATURES,
    generated_at: float | None = None,
) -> str:
    """The HTML page of a monitor's runs (oldest first), self-contained and script-free.

    Args:
        monitor: the monitor's name.
        runs: its runs, in any order (they are sorted by window end).
        endpoint, profile: what it watches and the drift profile it uses, shown in the header.
        window: the window's length, as text (``"1h"``) or seconds.
        reference, current: the summaries behind the latest run's drift, for the histograms.
        max_features: how many features get plots (the most drifted); the table lists all.
        generated_at: the time printed as the page's generation time (default: now).
    """
    runs = sorted(runs, key=lambda r: r.end)
    generated = datetime.now(UTC).timestamp() if generated_at is None else generated_at
    body = [_header(monitor, runs, endpoint, profile, window, generated)]
    if not runs:
        body.append(
            '<section class="panel"><p>This monitor has no runs yet: nothing has been checked. '
            "The report fills in after its first window is checked.</p></section>"
        )
    else:
        ranked = _ranked(runs[-1].drift)
        plotted = {d.feature for d in ranked[: max(max_features, 0)]}
        drifted = sum(d.drifted for d in ranked)
        body += [
            f"<h2>Drift in the latest window ({drifted} of {len(ranked)} features drifted)</h2>",
            _drift_table(ranked, plotted),
            "<h2>Features</h2>",
            _features(runs, ranked, reference, current, max(max_features, 0)),
            f'<h2>Quality</h2><section class="panel">{_quality(runs)}</section>',
            f'<h2>Operations</h2><section class="panel">{_operations(runs)}</section>',
        ]
    title = f"Monitor report: {monitor}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body><main>"
        + "".join(body)
        + "<footer>Generated by usina. Times are UTC; drift values are the profile's metric "
        "for each feature, checked against its threshold.</footer></main></body></html>\n"
    )


def write_report(
    path: str | os.PathLike[str],
    monitor: str,
    runs: Sequence[ReportRun],
    *,
    endpoint: str | None = None,
    profile: str | None = None,
    window: str | float | None = None,
    reference: Summary | None = None,
    current: Summary | None = None,
    max_features: int = DEFAULT_MAX_FEATURES,
    generated_at: float | None = None,
) -> Path:
    """Render the report (arguments as for :func:`render_report`) and write it to ``path``
    atomically: readers see the old file or the new one, never half of one."""
    text = render_report(
        monitor,
        runs,
        endpoint=endpoint,
        profile=profile,
        window=window,
        reference=reference,
        current=current,
        max_features=max_features,
        generated_at=generated_at,
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fchmod(out.fileno(), 0o644)
            os.fsync(out.fileno())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
