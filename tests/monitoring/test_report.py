"""The monitor report: a valid, self-contained HTML page whose plots and table say what drifted."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.synthetic import DRIFTED, frame
from usina.monitoring import FeatureDrift, Summary, compare, summarize
from usina.monitoring.report import MetricPoint, ReportRun, render_report, write_report

START = 1_764_547_200.0  # 2025-12-01 00:00 UTC
HOUR = 3600.0
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}
# SVG shapes written as self-closing tags (<line/>): html.parser reports them as start-end.


class Page(HTMLParser):
    """Checks that every tag closes in order, and collects what a test wants to look at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append([])
        if tag == "td":
            self.cell = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == "td" and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def parse(page: str) -> Page:
    assert page.startswith("<!DOCTYPE html>")
    parsed = Page()
    parsed.feed(page)
    parsed.close()
    assert parsed.errors == []
    assert parsed.stack == []
    return parsed


def charts(page: str) -> list[ET.Element]:
    """Every inline SVG, parsed as XML (so each one is well-formed)."""
    return [ET.fromstring(svg) for svg in re.findall(r"<svg\b.*?</svg>", page, re.S)]


def kinds(page: str) -> list[str]:
    return [svg.get("data-chart", "") for svg in charts(page)]


def drift_rows(parsed: Page) -> list[list[str]]:
    return [row for row in parsed.rows if len(row) == 5]


def assert_offline(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "@import" not in page and "url(" not in page


def metrics(i: int, labelled: bool = True) -> dict[str, MetricPoint]:
    accuracy = 0.9 - 0.03 * i if labelled else None
    return {
        "accuracy": MetricPoint(accuracy, 0.8, "<", accuracy is not None and accuracy < 0.8),
        "latency_p50": MetricPoint(0.010 + 0.001 * i),
        "latency_p95": MetricPoint(0.030 + 0.002 * i),
        "latency_p99": MetricPoint(0.050 + 0.004 * i, 0.06, ">", 0.050 + 0.004 * i > 0.06),
        "error_rate": MetricPoint(0.001 * i, 0.01, ">", False),
    }


@pytest.fixture(scope="module")
def history() -> tuple[Summary, Summary, list[ReportRun]]:
    """Six hourly windows of the synthetic table; the last three carry every shift."""
    reference = summarize(frame(4000, 0, shifted=False), prediction="score")
    runs, current = [], reference
    for i in range(6):
        current = summarize(frame(1000, i + 1, shifted=i >= 3), reference=reference)
        report = compare(reference, current)
        start = START + i * HOUR
        runs.append(ReportRun(start, start + HOUR, report.features, metrics(i), 1000 + i))
    return reference, current, runs


def render(history: tuple[Summary, Summary, list[ReportRun]], **options: object) -> str:
    reference, current, runs = history
    return render_report(
        "credit-drift",
        runs,
        endpoint="credit",
        profile="vertex",
        window=3600,
        reference=reference,
        current=current,
        **options,  # type: ignore[arg-type]
    )


def test_report_is_valid_offline_html_with_one_plot_per_chart(history) -> None:
    page = render(history)
    parse(page)
    assert_offline(page)
    features = len(history[2][-1].drift)
    found = kinds(page)
    assert found.count("drift") == features
    assert found.count("histogram") == features
    assert found.count("metric") == 1  # accuracy
    assert [k for k in found if k in {"latency", "error_rate", "volume"}] == [
        "latency",
        "error_rate",
        "volume",
    ]
    assert "credit-drift" in page and "credit" in page and "1h" in page
    assert "2025-12-01 00:00" in page and "2025-12-01 06:00" in page  # the time range


def test_drifted_features_come_first_and_are_marked(history) -> None:
    page = render(history)
    rows = drift_rows(parse(page))
    names = [row[0] for row in rows]
    assert set(names[: len(DRIFTED)]) == DRIFTED
    for name, _metric, _value, threshold, status in rows:
        assert threshold.startswith("0.3")  # the vertex profile's threshold
        assert ("drifted" in status) == (name in DRIFTED)
    # The plots follow the table's order, and the header names what breaches now.
    titles = [svg.findtext("title") for svg in charts(page) if svg.get("data-chart") == "drift"]
    assert [t.split(":")[0] for t in titles] == names
    header = page.split("<h2>")[0]
    for name in DRIFTED:
        assert f"drift: {name}" in header
    assert "latency_p99" in header and "accuracy" in header  # both breach in the last window


def test_drift_plot_draws_threshold_and_marks_breaches(history) -> None:
    page = render(history)
    [svg] = [
        s
        for s in charts(page)
        if s.get("data-chart") == "drift" and s.findtext("title", "").startswith("mean_shift:")
    ]
    lines = svg.findall("polyline")
    assert any(line.get("stroke-dasharray") for line in lines)  # the threshold, dashed
    assert len(svg.findall("circle[@class='breach']")) == 3  # the three shifted windows
    assert "threshold" in "".join(svg.itertext())


def test_p_value_metrics_rank_smallest_first() -> None:
    """With the evidently profile on small windows, a p-value under its threshold drifts."""
    rng = np.random.default_rng(3)
    train = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    live = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(1.5, 1, 300)})
    reference = summarize(train)
    current = summarize(live, reference=reference)
    report = compare(reference, current, profile="evidently")
    run = ReportRun(START, START + HOUR, report.features, {}, 300)
    page = render_report("m", [run], reference=reference, current=current)
    rows = drift_rows(parse(page))
    assert [row[0] for row in rows] == ["b", "a"]
    assert "drifted" in rows[0][4] and "below" in rows[0][3]


def test_histograms_show_both_windows_as_shares(history) -> None:
    page = render(history)
    histograms = [s for s in charts(page) if s.get("data-chart") == "histogram"]
    channel = next(s for s in histograms if s.findtext("title", "").startswith("channel:"))
    text = " ".join(channel.itertext())
    assert "web" in text and "store" in text and "reference" in text and "current" in text
    fills = {rect.get("fill") for rect in channel.iter("rect")}
    assert len(fills) == 2  # reference and current, side by side
    numeric = next(s for s in histograms if s.findtext("title", "").startswith("mean_shift:"))
    assert len(numeric.findall(".//rect")) > 10  # one bar per bin and window
    assert "%" in " ".join(numeric.itertext())


def test_names_are_escaped() -> None:
    evil = "<script>alert(1)</script>"
    reference = summarize(pd.DataFrame({evil: [1.0, 2.0, 3.0, 4.0], "x&y": ["a", "b", "a", "c"]}))
    current = summarize(
        pd.DataFrame({evil: [9.0, 9.5, 3.0, 8.0], "x&y": ["a", "<b>", "a", "c"]}),
        reference=reference,
    )
    drift = compare(reference, current).features
    run = ReportRun(START, START + HOUR, drift, {'<img src=x onerror="x">': MetricPoint(1.0)}, 4)
    page = render_report(
        "<b>monitor</b>",
        [run],
        endpoint='"><script>',
        reference=reference,
        current=current,
    )
    parsed = parse(page)
    assert_offline(page)
    assert not [tag for tag, _ in parsed.tags if tag in {"script", "img", "b"}]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert any(row[0] == evil for row in drift_rows(parsed))
    charts(page)  # still well-formed XML


def test_no_runs_yet() -> None:
    page = render_report("fresh", [], endpoint="credit")
    parse(page)
    assert_offline(page)
    assert "no runs yet" in page
    assert charts(page) == []


def test_no_labels_yet(history) -> None:
    reference, current, runs = history
    unlabelled = [
        ReportRun(r.start, r.end, r.drift, metrics(i, labelled=False), r.volume)
        for i, r in enumerate(runs)
    ]
    page = render_report("m", unlabelled, reference=reference, current=current)
    parse(page)
    assert "Labels have not arrived yet" in page
    assert "metric" not in kinds(page)
    # Labels for earlier windows only: plotted, and the latest window's absence is said.
    late = [*runs[:-1], ReportRun(runs[-1].start, runs[-1].end, runs[-1].drift, {}, 5)]
    page = render_report("m", late, reference=reference, current=current)
    assert "Labels for the latest window have not arrived yet" in page
    assert kinds(page).count("metric") == 1


def test_missing_values_are_gaps_and_a_single_run_is_points() -> None:
    drift: list[Sequence[FeatureDrift]] = [
        [FeatureDrift("f", "numeric", "psi", value, 0.2, bool(value and value > 0.2))]
        for value in (0.1, None, math.nan, 0.3, 0.25)
    ]
    runs = [
        ReportRun(START + i * HOUR, START + (i + 1) * HOUR, d, {"auc": MetricPoint(math.nan)}, 0)
        for i, d in enumerate(drift)
    ]
    page = render_report("m", runs)
    parse(page)
    [svg] = [s for s in charts(page) if s.get("data-chart") == "drift"]
    solid = [p for p in svg.findall("polyline") if not p.get("stroke-dasharray")]
    assert len(solid) == 1 and len(solid[0].get("points", "").split()) == 2  # 0.3 to 0.25
    assert not re.search(r"[>\s\"',]nan\b", page.lower())  # nowhere printed or plotted
    assert "Labels have not arrived yet" in page  # a NaN metric is no measurement

    single = render_report("m", runs[-1:])
    parse(single)
    [svg] = [s for s in charts(single) if s.get("data-chart") == "drift"]
    assert not [p for p in svg.findall("polyline") if not p.get("stroke-dasharray")]
    assert svg.findall("circle")


def test_many_features_with_long_names_cap_the_plots() -> None:
    names = [f"feature_{i:03d}_" + "x" * 120 for i in range(120)]
    rng = np.random.default_rng(0)
    reference = summarize(pd.DataFrame({n: rng.normal(size=200) for n in names}))
    shifted = {n: rng.normal(3.0 if i == 57 else 0.0, 1.0, 200) for i, n in enumerate(names)}
    current = summarize(pd.DataFrame(shifted), reference=reference)
    run = ReportRun(START, START + HOUR, compare(reference, current).features, {}, 200)
    page = render_report("wide", [run], reference=reference, current=current, max_features=20)
    parsed = parse(page)
    rows = drift_rows(parsed)
    assert len(rows) == 120 and rows[0][0] == names[57] and "drifted" in rows[0][4]
    assert kinds(page).count("drift") == 20 and kinds(page).count("histogram") == 20
    assert "100 more features not plotted" in page


def test_write_report_replaces_the_file(tmp_path: Path, history) -> None:
    target = tmp_path / "reports" / "report.html"
    target.parent.mkdir()
    target.write_text("old")
    reference, current, runs = history
    written = write_report(target, "credit-drift", runs, reference=reference, current=current)
    assert written == target
    assert target.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no temporary left
