"""Run pages: experiments (the runs table, metric curves, two runs side by side) and pipeline
runs (the step graph with statuses, durations and cached steps, logs and artifacts)."""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from markupsafe import Markup

from usina.artifacts.content import read_bytes
from usina.errors import UsinaError
from usina.pipelines import PipelineRun
from usina.server.deps import backends, pipelines, tracking
from usina.server.ui import charts
from usina.server.ui.render import page, seconds

router = APIRouter(prefix="/ui", include_in_schema=False)
PAGE = 50
CURVES = 6  # metric curves drawn for the runs compared
LOG_LIMIT = 20_000  # characters of a step's log shown on the page


@router.get("/experiments")
def experiments(request: Request) -> Response:
    """Experiments and their run counts."""
    found = tracking(request, "anonymous").list_experiments(limit=200)
    return page(
        request, "experiments.html", "Experiments", {"experiments": found}, section="experiments"
    )


@router.get("/experiments/{experiment}")
def experiment(
    request: Request,
    experiment: str = Path(max_length=256),
    a: str | None = Query(None, max_length=64),
    b: str | None = Query(None, max_length=64),
    offset: int = Query(0, ge=0, le=2**31),
) -> Response:
    """One experiment's runs, the curves of two of them and their params and metrics."""
    store = tracking(request, "anonymous")
    runs = store.list_runs(experiment, limit=PAGE, offset=offset)
    params = sorted({k for r in runs for k in r.params})[:8]
    metric_keys = sorted({k for r in runs for k in r.metrics})[:8]
    chosen = [r for r in (_run(store, a, experiment), _run(store, b, experiment)) if r]
    if not chosen:
        chosen = runs[:2]
    elif len(chosen) == 1 and runs:
        chosen.append(next((r for r in runs if r.id != chosen[0].id), chosen[0]))
    curves = []
    keys = sorted({k for r in chosen for k in r.metrics})[:CURVES]
    for key in keys:
        series = []
        for r in chosen:
            history = store.metric_history(r.id, key)
            series.append(
                (r.name or r.id[:8], [float(m.step) for m in history], [m.value for m in history])
            )
        curves.append(charts.steps(f"{key} by step", series))
    compared = None
    if len(chosen) == 2:
        left, right = chosen
        compared = {
            "params": [
                (k, left.params.get(k), right.params.get(k))
                for k in sorted(set(left.params) | set(right.params))
            ],
            "metrics": [
                (k, left.metrics.get(k), right.metrics.get(k))
                for k in sorted(set(left.metrics) | set(right.metrics))
            ],
        }
    context = {
        "experiment": experiment,
        "runs": runs,
        "params": params,
        "metric_keys": metric_keys,
        "chosen": chosen,
        "curves": curves,
        "compared": compared,
        "offset": offset,
        "more": len(runs) == PAGE,
    }
    return page(
        request, "experiment.html", f"Experiment {experiment}", context, section="experiments"
    )


def _run(store: Any, run_id: str | None, experiment: str) -> Any:
    if not run_id:
        return None
    try:
        run = store.get_run(run_id)
    except UsinaError:
        return None
    return run if run.experiment == experiment else None  # only this experiment's runs


@router.get("/pipeline-runs")
def pipeline_runs(
    request: Request,
    pipeline: str | None = Query(None, max_length=128),
    offset: int = Query(0, ge=0, le=2**31),
) -> Response:
    """Pipeline runs, newest first."""
    found = pipelines(request, "anonymous").list_runs(pipeline or None, limit=PAGE, offset=offset)
    context = {
        "runs": found,
        "pipeline": pipeline or "",
        "offset": offset,
        "more": len(found) == PAGE,
    }
    return page(request, "pipeline_runs.html", "Pipeline runs", context, section="pipelines")


@router.get("/pipeline-runs/{run_id}")
def pipeline_run(
    request: Request,
    run_id: str = Path(max_length=64),
    step: str | None = Query(None, max_length=128, description="The step whose log is shown."),
) -> Response:
    """One pipeline run: its graph, its steps, a step's log and everything it made."""
    store = pipelines(request, "anonymous")
    run = store.get_run(run_id)
    links = {s.id: store.step_links(s.id) for s in run.steps}
    edges = _edges(run, links)
    chosen = next((s for s in run.steps if s.node == step), None)
    if chosen is None:
        chosen = next((s for s in run.steps if s.status == "failed"), None) or (
            run.steps[0] if run.steps else None
        )
    log = None
    if chosen is not None and chosen.log_digest:
        try:
            text = read_bytes(backends(request).artifacts, chosen.log_digest).decode(
                errors="replace"
            )
        except (UsinaError, OSError) as exc:
            text = f"(the log could not be read: {exc})"
        log = text[-LOG_LIMIT:]
    context = {
        "run": run,
        "graph": step_graph(run, edges),
        "links": links,
        "chosen": chosen,
        "log": log,
    }
    return page(
        request, "pipeline_run.html", f"Pipeline run {run_id[:8]}", context, section="pipelines"
    )


def _edges(run: PipelineRun, links: dict[str, list[Any]]) -> list[tuple[str, str]]:
    """(producer, consumer) steps: a step reads an artifact another step of the run wrote."""
    made: dict[str, str] = {}
    for s in run.steps:
        for out in s.outputs.values():
            made.setdefault(out.digest, s.node)
        for link in links.get(s.id, []):
            if link.role == "output":
                made.setdefault(link.digest, s.node)
    edges: set[tuple[str, str]] = set()
    for s in run.steps:
        for link in links.get(s.id, []):
            producer = made.get(link.digest)
            if link.role == "input" and producer and producer != s.node:
                edges.add((producer, s.node))
    return sorted(edges)


STATUS_COLOURS = {
    "done": ("#e3f1e6", "#2e8540"),
    "succeeded": ("#e3f1e6", "#2e8540"),
    "cached": ("#e6eef8", "#1f5fa8"),
    "failed": ("#fdecec", "#b3261e"),
    "running": ("#fff4e0", "#8a5a00"),
    "pending": ("#f0f2f5", "#52606d"),
    "skipped": ("#f0f2f5", "#52606d"),
}
BOX_W, BOX_H, GAP_X, GAP_Y = 170, 54, 50, 18


def step_graph(run: PipelineRun, edges: list[tuple[str, str]]) -> Markup:
    """The run's steps as an SVG graph: columns by depth (longest path from a source), a box
    per step with its status and duration, arrows from producer to consumer."""
    nodes = [s.node for s in run.steps]
    depth = {n: 0 for n in nodes}
    for _ in nodes:  # longest path, relaxed at most once per node (a DAG)
        changed = False
        for src, dst in edges:
            if depth.get(dst, 0) < depth.get(src, 0) + 1:
                depth[dst] = depth.get(src, 0) + 1
                changed = True
        if not changed:
            break
    columns: dict[int, list[str]] = {}
    for n in nodes:
        columns.setdefault(depth[n], []).append(n)
    place: dict[str, tuple[float, float]] = {}
    for col, members in columns.items():
        for row, n in enumerate(members):
            place[n] = (10 + col * (BOX_W + GAP_X), 10 + row * (BOX_H + GAP_Y))
    width = 20 + (max(columns, default=0) + 1) * (BOX_W + GAP_X) - GAP_X
    height = 20 + max((len(m) for m in columns.values()), default=1) * (BOX_H + GAP_Y) - GAP_Y
    title = f"Step graph of pipeline {run.pipeline}, run {run.id[:8]}: {run.status}"
    parts = [
        f'<svg class="graph" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" style="max-width:{width}px">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#7b8794"/></marker></defs>',
    ]
    for src, dst in edges:
        (x1, y1), (x2, y2) = place[src], place[dst]
        parts.append(
            f'<line x1="{x1 + BOX_W:.0f}" y1="{y1 + BOX_H / 2:.0f}" x2="{x2:.0f}" '
            f'y2="{y2 + BOX_H / 2:.0f}" stroke="#7b8794" stroke-width="1.5" '
            'marker-end="url(#arrow)"/>'
        )
    for s in run.steps:
        x, y = place[s.node]
        fill, ink = STATUS_COLOURS.get(str(s.status), STATUS_COLOURS["pending"])
        took = (
            seconds(s.end_time - s.start_time)
            if s.start_time is not None and s.end_time is not None
            else ""
        )
        label = f"{s.status}" + (f" · {took}" if took else "")
        name = s.node if len(s.node) <= 20 else s.node[:19] + "…"
        parts.append(
            f'<g class="step" data-step="{escape(s.node)}" data-status="{escape(str(s.status))}">'
            f"<title>{escape(s.node)}: {escape(label)}</title>"
            f'<a href="?step={escape(s.node)}#log">'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" '
            f'stroke="{ink}" stroke-width="1.5"/>'
            f'<text x="{x + 10}" y="{y + 22}" font-size="13" font-weight="600" '
            f'fill="#1f2933">{escape(name)}</text>'
            f'<text x="{x + 10}" y="{y + 41}" font-size="12" fill="{ink}">{escape(label)}</text>'
            "</a></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
