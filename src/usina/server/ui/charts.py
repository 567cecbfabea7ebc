"""The console's charts: inline SVG drawn on the server by the monitoring report's plotting
code (``usina.monitoring.report.line_chart``), so the console and the offline report look
alike, pages need no script to show a chart, and each chart carries a ``<title>`` and an
``aria-label`` for screen readers. Every chart also has its numbers in a table on the page."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from usina.monitoring.report import (
    BREACH,
    LATENCY_COLOURS,
    PALETTE,
    THRESHOLD,
    Series,
    line_chart,
)


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def lines(
    kind: str,
    title: str,
    series: Sequence[tuple[str, Sequence[float], Sequence[float | None]]],
    *,
    percent: bool = False,
    zero: bool = True,
    threshold: float | None = None,
    breached: Sequence[Sequence[bool]] | None = None,
) -> Markup:
    """A line per ``(name, xs, ys)``; ``threshold`` adds a dashed level line, ``breached``
    marks points (per series) in red."""
    drawn = [
        Series(
            name, colour(i), list(xs), list(ys), breached=list(breached[i]) if breached else None
        )
        for i, (name, xs, ys) in enumerate(series)
    ]
    if threshold is not None:
        xs = sorted({x for _, s_xs, _ in series for x in s_xs})
        if xs:
            drawn.append(Series("threshold", THRESHOLD, xs, [threshold] * len(xs), dashed=True))
    return Markup(line_chart(kind, title, drawn, percent=percent, zero=zero))


def latency(
    title: str,
    xs: Sequence[float],
    p50: Sequence[float | None],
    p95: Sequence[float | None],
    p99: Sequence[float | None],
) -> Markup:
    """p50, p95 and p99 latency (ms) over time, in the report's colours."""
    drawn = [
        Series("p50", LATENCY_COLOURS["latency_p50"], list(xs), list(p50)),
        Series("p95", LATENCY_COLOURS["latency_p95"], list(xs), list(p95)),
        Series("p99", LATENCY_COLOURS["latency_p99"], list(xs), list(p99)),
    ]
    return Markup(line_chart("latency", title, drawn, zero=True))


def steps(title: str, series: Sequence[tuple[str, Sequence[float], Sequence[float]]]) -> Markup:
    """Metric values by step (a numeric x axis): one line per ``(name, steps, values)``."""
    w, h, left, right, top, bottom = 560, 240, 56, 18, 46, 40
    head = (
        f'<svg class="chart" data-chart="metric" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<text class="ct" x="{left}" y="18">{escape(title)}</text>'
    )
    xs = [x for _, sx, _ in series for x in sx]
    ys = [y for _, _, sy in series for y in sy if math.isfinite(y)]
    if not xs or not ys:
        return Markup(
            head + f'<text class="empty" x="{w / 2}" y="{h / 2}" text-anchor="middle">'
            "no values to plot</text></svg>"
        )
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        y0, y1 = y0 - (abs(y0) * 0.1 or 1), y1 + (abs(y1) * 0.1 or 1)

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (w - left - right)

    def py(y: float) -> float:
        return top + (y1 - y) / (y1 - y0) * (h - top - bottom)

    parts = [head]
    for i in range(5):
        value = y0 + (y1 - y0) * i / 4
        parts.append(
            f'<line class="grid" x1="{left}" x2="{w - right}" y1="{py(value):.1f}" '
            f'y2="{py(value):.1f}"/><text class="tl" x="{left - 6}" y="{py(value) + 3.5:.1f}" '
            f'text-anchor="end">{value:.4g}</text>'
        )
    for i in range(5):
        value = x0 + (x1 - x0) * i / 4
        parts.append(
            f'<text class="tl" x="{px(value):.1f}" y="{h - bottom + 16}" '
            f'text-anchor="middle">{value:.4g}</text>'
        )
    parts.append(f'<text class="tl" x="{w - right}" y="{h - 4}" text-anchor="end">step</text>')
    for i, (name, sx, sy) in enumerate(series):
        points = [
            f"{px(x):.1f},{py(y):.1f}" for x, y in zip(sx, sy, strict=True) if math.isfinite(y)
        ]
        if len(points) == 1:
            cx, cy = points[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour(i)}"/>')
        elif points:
            parts.append(
                f'<polyline fill="none" stroke="{colour(i)}" stroke-width="2" '
                f'points="{" ".join(points)}"/>'
            )
        parts.append(
            f'<rect x="{left + 8 + i * 120}" y="26" width="12" height="4" fill="{colour(i)}"/>'
            f'<text class="lg" x="{left + 24 + i * 120}" y="32">{escape(name[:14])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


__all__ = ["BREACH", "latency", "lines", "steps"]
