"""Monitors: a named check of an endpoint's traffic over a window, run now or on a schedule.

A run reads the window's request-log rows (only its date partitions), summarises each model
version's inputs and answers with the bins of that version's reference summary, measures drift
with ``compare``, computes quality (when labels arrived) and operations, checks the
thresholds, and stores a record (``MonitorRun``). Every breach then goes through one function,
:func:`notify`.

A monitor with a ``schedule`` owns a schedule row named ``monitor.NAME`` (its ``pipeline``
is ``monitor:NAME``), so the scheduler fires it exactly once per tick like any pipeline, and
the window ends at the tick.

Example:
    >>> spec = check_spec({"name": "credit-drift", "endpoint": "credit", "window": "1h",
    ...                    "metrics": ["auc>=0.7", "latency_p99<=50ms"]})
    >>> spec.window_s, [t.text for t in spec.thresholds]
    (3600.0, ['auc>=0.7', 'latency_p99<=50ms'])
"""

from __future__ import annotations

import builtins
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from usina.errors import InvalidInput, UsinaError
from usina.monitoring.channels import parse_channel
from usina.monitoring.labels import check_endpoint
from usina.monitoring.profiles import PROFILES
from usina.monitoring.quality import CLASSIFICATION, OPERATIONS, REGRESSION, TASKS

if TYPE_CHECKING:
    from usina.artifacts import ArtifactStore
    from usina.monitoring.alerter import Alerter, CheckResult
    from usina.pipelines.entities import Schedule

log = logging.getLogger("usina.monitoring")

MIN_WINDOW_S = 300.0
MAX_WINDOW_S = 31 * 86_400.0
DRIFT = ("drift_share", "drifted_features")
METRICS = (*CLASSIFICATION, *REGRESSION, *OPERATIONS, *DRIFT)
SCHEDULE_PREFIX = "monitor."
TARGET = "monitor:"
OK, BREACHED, NO_DATA, FAILED = "ok", "breached", "no_data", "failed"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,99}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_THRESHOLD = re.compile(
    r"^\s*([a-z_0-9]+)\s*(>=|<=|>|<)\s*([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(ms|s|%)?\s*$"
)
_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}


@dataclass(frozen=True)
class Threshold:
    """A bound a figure must keep, such as ``auc>=0.70`` or ``latency_p99<=50ms``."""

    metric: str
    op: str
    value: float
    text: str

    def breached(self, figure: float) -> bool:
        ok = {
            ">=": figure >= self.value,
            "<=": figure <= self.value,
            ">": figure > self.value,
            "<": figure < self.value,
        }[self.op]
        return not ok


@dataclass(frozen=True)
class MonitorSpec:
    """What a monitor checks, and when."""

    name: str
    endpoint: str
    window_s: float
    schedule: str | None = None
    drift_threshold: float | None = None
    profile: str = "vertex"
    thresholds: tuple[Threshold, ...] = ()
    alerts: tuple[str, ...] = ()
    task: str | None = None
    delay_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "endpoint": self.endpoint,
            "window": _duration_text(self.window_s),
            "schedule": self.schedule,
            "drift_threshold": self.drift_threshold,
            "profile": self.profile,
            "metrics": [t.text for t in self.thresholds],
            "alerts": list(self.alerts),
            "task": self.task,
            "delay": _duration_text(self.delay_s) if self.delay_s else "0s",
        }


@dataclass(frozen=True)
class Monitor:
    """A stored monitor: its spec, who made it and when."""

    spec: MonitorSpec
    created_at: float
    created_by: str

    @property
    def name(self) -> str:
        return self.spec.name

    def to_dict(self) -> dict[str, Any]:
        return {**self.spec.to_dict(), "created_at": self.created_at, "created_by": self.created_by}


@dataclass(frozen=True)
class MonitorRun:
    """The record of one run: the window, every figure, the breaches, and how it ended.

    ``figures["versions"]`` holds one entry per model version seen in the window: its
    operations and quality figures, and the drift of each feature (``drift``), when the
    version has a reference summary."""

    id: str
    monitor: str
    window_start: float
    window_end: float
    status: str
    figures: dict[str, Any] = field(default_factory=dict)
    breaches: builtins.list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    started_at: float = 0.0
    seconds: float = 0.0


class MonitorStore(Protocol):
    """Create, read and delete monitors; run one now; read its runs."""

    def create(self, spec: Mapping[str, Any], now: float | None = None) -> Monitor:
        """Check ``spec`` (see :func:`check_spec`) and the endpoint, then store the monitor
        and, with a schedule, its schedule row (all or nothing)."""
        ...

    def get(self, name: str) -> Monitor: ...

    def list(self) -> builtins.list[Monitor]: ...

    def delete(self, name: str) -> None:
        """Delete the monitor, its schedule and its runs."""
        ...

    def run(self, name: str, end: float | None = None) -> MonitorRun:
        """Run the monitor over the window ending at ``end`` (now by default) and store the
        record; a failure is recorded too (status ``failed``), not raised."""
        ...

    def history(self, name: str, *, limit: int = 100, offset: int = 0) -> builtins.list[MonitorRun]:
        """The monitor's runs, newest window first."""
        ...


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"monitor name {name!r} is not valid; use letters, digits and '._-' (at most 100)",
            field="name",
        )
    return name


def _seconds(value: Any, field: str, examples: str) -> float:
    """Seconds of a duration (``90``, ``5m``, ``1h``, ``1d``), or ``InvalidInput`` naming
    ``field`` with ``examples`` of what to write."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    found = _DURATION.match(value) if isinstance(value, str) else None
    if found is None:
        raise InvalidInput(f"{field} {value!r} is not a duration; write {examples}", field=field)
    return float(found.group(1)) * _SECONDS[found.group(2) or "s"]


def parse_window(value: Any) -> float:
    """Seconds of a window such as ``5m``, ``1h``, ``1d`` or a number of seconds."""
    seconds = _seconds(value, "window", "5m, 30m, 1h or 1d")
    if not math.isfinite(seconds) or seconds < MIN_WINDOW_S:
        raise InvalidInput(
            f"window {value!r} is shorter than 5 minutes; give 5m or more", field="window"
        )
    if seconds > MAX_WINDOW_S:
        raise InvalidInput(f"window {value!r} is longer than 31 days", field="window")
    return seconds


def parse_delay(value: Any) -> float:
    """Seconds a monitor's window ends before the run (or tick): ``0`` (default), ``1d``..."""
    if value in (0, "0", None):
        return 0.0
    seconds = _seconds(value, "delay", "0, 6h or 1d")
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_WINDOW_S:
        raise InvalidInput(f"delay {value!r} is not between 0 and 31 days", field="delay")
    return seconds


def _duration_text(seconds: float) -> str:
    for unit in ("d", "h", "m"):
        if seconds % _SECONDS[unit] == 0:
            return f"{int(seconds // _SECONDS[unit])}{unit}"
    return f"{seconds:g}s"


def parse_threshold(text: Any) -> Threshold:
    """``auc>=0.70``, ``latency_p99<=50ms`` (or ``0.05s``), ``error_rate<1%``."""
    found = _THRESHOLD.match(text) if isinstance(text, str) else None
    if found is None:
        raise InvalidInput(
            f"metric threshold {text!r} is not METRIC OP VALUE; write auc>=0.70 or "
            "latency_p99<=50ms",
            field="metrics",
        )
    metric, op, number, unit = found.groups()
    if metric not in METRICS:
        raise InvalidInput(
            f"unknown metric {metric!r} in {text!r}; the metrics are {', '.join(METRICS)}",
            field="metrics",
        )
    value = float(number)
    if unit in ("ms", "s"):
        if not metric.startswith("latency_"):
            raise InvalidInput(f"{text!r}: only latencies take ms or s", field="metrics")
        value *= 1000.0 if unit == "s" else 1.0
    elif unit == "%":
        if metric not in ("error_rate", "drift_share", "accuracy", "precision", "recall", "mape"):
            raise InvalidInput(f"{text!r}: {metric} is not a share; drop the %", field="metrics")
        value /= 100.0
    return Threshold(metric, op, value, text.strip().replace(" ", ""))


def check_spec(spec: Mapping[str, Any]) -> MonitorSpec:
    """A monitor spec from its JSON (or YAML) form, every field checked and named when wrong.

    Fields: ``name``, ``endpoint``, ``window`` (default ``1h``), ``schedule`` (cron, ``@hourly``;
    none: run only on demand), ``drift_threshold`` (overrides the profile's threshold for every
    feature), ``profile`` (``vertex`` or ``evidently``), ``metrics`` (thresholds such as
    ``auc>=0.70``), ``alerts`` (``email:ADDRESS``, ``webhook:URL``, ``log:`` or ``log:NAME``),
    ``task`` (``classification`` or ``regression``; inferred from the labels by default), ``delay``
    (how long before the run or tick the window ends, ``1d`` say, so labels have arrived;
    default 0).
    """
    if not isinstance(spec, Mapping):
        raise InvalidInput("a monitor spec is an object of fields", field="spec")
    known = {
        "name",
        "endpoint",
        "window",
        "schedule",
        "drift_threshold",
        "profile",
        "metrics",
        "alerts",
        "task",
        "delay",
    }
    unknown = sorted(set(spec) - known)
    if unknown:
        raise InvalidInput(
            f"unknown monitor field {unknown[0]!r}; the fields are {', '.join(sorted(known))}",
            field=str(unknown[0]),
        )
    name = check_name(spec.get("name"))
    endpoint = check_endpoint(spec.get("endpoint"))
    window_s = parse_window(spec.get("window", "1h"))
    schedule = spec.get("schedule")
    if schedule is not None:
        from usina.pipelines.schedules import check_cron

        try:
            check_cron(schedule)
        except InvalidInput:
            raise InvalidInput(
                f"schedule {schedule!r} is not a cron expression; write '0 * * * *' or @hourly",
                field="schedule",
            ) from None
    drift = spec.get("drift_threshold")
    if drift is not None and (
        isinstance(drift, bool)
        or not isinstance(drift, int | float)
        or not math.isfinite(drift)
        or drift <= 0
    ):
        raise InvalidInput(
            f"drift_threshold {drift!r} is not a number above 0", field="drift_threshold"
        )
    profile = spec.get("profile", "vertex")
    if profile not in PROFILES:
        raise InvalidInput(
            f"profile {profile!r} is not one of {', '.join(PROFILES)}", field="profile"
        )
    metrics = spec.get("metrics") or []
    alerts = spec.get("alerts") or []
    for value, what in ((metrics, "metrics"), (alerts, "alerts")):
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise InvalidInput(f"{what} must be a list of strings", field=what)
    thresholds = tuple(parse_threshold(m) for m in metrics)
    for alert in alerts:
        # The alerter's own parser, so a monitor never stores a channel it would refuse.
        try:
            parse_channel(alert)
        except InvalidInput as exc:
            raise InvalidInput(str(exc), field="alerts") from None
    delay_s = parse_delay(spec.get("delay", 0))
    task = spec.get("task")
    if task is not None and task not in TASKS:
        raise InvalidInput(f"task {task!r} is not one of {', '.join(TASKS)}", field="task")
    return MonitorSpec(
        name,
        endpoint,
        window_s,
        schedule,
        None if drift is None else float(drift),
        profile,
        thresholds,
        tuple(alerts),
        task,
        delay_s,
    )


def run_monitor(
    monitor: Monitor,
    artifacts: ArtifactStore,
    labels: Callable[[str, float], Any],
    end: float | None = None,
) -> MonitorRun:
    """Run ``monitor`` over the window ending at ``end``; never raises for what it finds in the
    data: a failure is a run with status ``failed`` and its error.

    Args:
        labels: ``(endpoint, since) -> Arrow table`` of labels received since then.
    """
    started = time.time()
    end = started if end is None else float(end)
    end -= monitor.spec.delay_s
    start = end - monitor.spec.window_s
    clock = time.perf_counter()
    run_id = uuid.uuid4().hex
    try:
        figures, breaches = _check(monitor.spec, artifacts, labels, start, end)
    except Exception as exc:  # recorded in the run, which an operator reads
        log.warning("monitor %s failed: %s", monitor.name, exc, exc_info=True)
        return MonitorRun(
            run_id,
            monitor.name,
            start,
            end,
            FAILED,
            error=f"{type(exc).__name__}: {exc}",
            started_at=started,
            seconds=time.perf_counter() - clock,
        )
    status = (BREACHED if breaches else OK) if figures["versions"] else NO_DATA
    return MonitorRun(
        run_id,
        monitor.name,
        start,
        end,
        status,
        figures,
        breaches,
        None,
        started,
        time.perf_counter() - clock,
    )


def _check(
    spec: MonitorSpec,
    artifacts: ArtifactStore,
    labels: Callable[[str, float], Any],
    start: float,
    end: float,
) -> tuple[dict[str, Any], builtins.list[dict[str, Any]]]:
    from usina.monitoring.logwindow import connect
    from usina.monitoring.quality import window_figures

    conn = connect(artifacts, spec.endpoint, start, end, load=True)
    try:
        found = window_figures(
            conn, spec.endpoint, start, end, labels(spec.endpoint, start), spec.task
        )
        models = dict(
            conn.execute(
                "select version, any_value(model) from requests where endpoint = ? and not "
                "shadow and time >= to_timestamp(?) and time < to_timestamp(?) group by version",
                [spec.endpoint, start, end],
            ).fetchall()
        )
        versions = []
        breaches: builtins.list[dict[str, Any]] = []
        for f in found:
            entry = f.to_dict()
            entry["model"] = models.get(f.version)
            drift = _drift(conn, spec, artifacts, entry["model"], f.version, start, end)
            if drift is not None:
                every = [*drift.features, *([drift.prediction] if drift.prediction else [])]
                entry["drift"] = {d.feature: _feature(d, d is drift.prediction) for d in every}
                entry["alarms"] = [a.to_dict() for a in drift.alarms]
                entry["figures"]["drift_share"] = drift.drifted_share
                entry["figures"]["drifted_features"] = len(drift.drifted)
                for d in every:
                    if d.drifted:
                        breaches.append(
                            {
                                "version": f.version,
                                "kind": "drift",
                                "name": d.feature,
                                "value": d.value,
                                "threshold": d.threshold,
                                "text": f"{d.feature} drifted: {d.metric} "
                                f"{_num(d.value)} (threshold {_num(d.threshold)})",
                            }
                        )
            else:
                entry["drift"] = None
            for t in spec.thresholds:
                value = entry["figures"].get(t.metric)
                if value is not None and t.breached(value):
                    breaches.append(
                        {
                            "version": f.version,
                            "kind": "metric",
                            "name": t.metric,
                            "value": value,
                            "threshold": t.value,
                            "text": f"{t.metric} is {_num(value)}, outside {t.text}",
                        }
                    )
            versions.append(entry)
    finally:
        conn.close()
    return {"versions": versions}, breaches


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _feature(d: Any, prediction: bool) -> dict[str, Any]:
    return {
        "metric": d.metric,
        "value": d.value,
        "threshold": d.threshold,
        "drifted": d.drifted,
        "prediction": prediction,
    }


def _drift(
    conn: Any,
    spec: MonitorSpec,
    artifacts: ArtifactStore,
    model: str | None,
    version: int | None,
    start: float,
    end: float,
) -> Any:
    """The drift report of one version's window, or ``None`` without a reference or rows."""
    from usina.monitoring.drift import compare

    found = _summaries(conn, spec, artifacts, model, version, start, end)
    if found is None:
        return None
    reference, current = found
    thresholds = None
    if spec.drift_threshold is not None:
        thresholds = {n: spec.drift_threshold for n in reference.names}
    return compare(reference, current, profile=spec.profile, thresholds=thresholds)


def _summaries(
    conn: Any,
    spec: MonitorSpec,
    artifacts: ArtifactStore,
    model: str | None,
    version: int | None,
    start: float,
    end: float,
) -> tuple[Any, Any] | None:
    """One version's reference summary and its window's summary on the reference's bins, or
    ``None`` without a reference or rows."""
    import orjson

    from usina.monitoring.references import load_reference
    from usina.monitoring.summaries import summarize

    if model is None or version is None:
        return None
    reference = load_reference(artifacts, model, version)
    if reference is None:
        return None
    kinds = {f.name: "DOUBLE" if f.kind == "numeric" else "VARCHAR" for f in reference}
    prediction = reference.prediction
    inputs = {n: k for n, k in kinds.items() if n != prediction}
    shape = orjson.dumps([inputs]).decode()
    select = "unnest(from_json(inputs, ?), recursive := true)"
    params: builtins.list[Any] = [shape]
    if prediction is not None:
        select += f', unnest(from_json(outputs, ?)) as "{prediction}"'
        params.append(orjson.dumps([kinds[prediction]]).decode())
    table = conn.sql(
        f"select {select} from requests where endpoint = ? and version = ? and not shadow "
        "and status < 400 and time >= to_timestamp(?) and time < to_timestamp(?)",
        params=[*params, spec.endpoint, version, start, end],
    ).to_arrow_table()
    if table.num_rows == 0:
        return None
    table = _python_booleans(table, reference)
    return reference, summarize(table.select(reference.names), reference=reference)


def window_summaries(
    monitor: Monitor, artifacts: ArtifactStore, start: float, end: float
) -> dict[int, tuple[Any, Any]]:
    """Per model version seen in the window: its reference summary and the window's summary
    (for a report's histograms); versions without a reference are left out."""
    from usina.monitoring.logwindow import connect

    spec = monitor.spec
    conn = connect(artifacts, spec.endpoint, start, end, load=True)
    try:
        models = conn.execute(
            "select version, any_value(model) from requests where endpoint = ? and not "
            "shadow and time >= to_timestamp(?) and time < to_timestamp(?) group by version",
            [spec.endpoint, start, end],
        ).fetchall()
        found = {}
        for version, model in models:
            pair = _summaries(conn, spec, artifacts, model, version, start, end)
            if pair is not None:
                found[int(version)] = pair
        return found
    finally:
        conn.close()


def _python_booleans(table: Any, reference: Any) -> Any:
    """JSON's ``true``/``false`` as the reference's categories spell booleans (``True``,
    ``False``, Python's ``str``), in categorical columns whose reference has them."""
    import pyarrow.compute as pc

    for f in reference:
        if f.kind != "categorical" or not {"True", "False"} & set(f.categories):
            continue
        column = table.column(f.name)
        fixed = pc.if_else(
            pc.equal(column, "true"),
            "True",
            pc.if_else(pc.equal(column, "false"), "False", column),
        )
        table = table.set_column(table.schema.get_field_index(f.name), f.name, fixed)
    return table


def notify(monitor: Monitor, run: MonitorRun, alerter: Alerter | None = None) -> None:
    """The one place a finished run's findings leave the monitor: each breach is logged at
    WARNING, and with an ``alerter`` every check the run could evaluate is handed to it, so a
    breach opens (or reminds of) an alert on the monitor's channels and a check that cleared
    resolves its alert. A run that failed or saw no requests decides nothing.

    Checks are named per feature or metric (``drift:age``, ``metric:auc``), across the model
    versions of the window: breached when any version breached, so an alert survives a new
    version taking the traffic and clears when none breaches any more.
    """
    for breach in run.breaches:
        log.warning(
            "monitor %s (endpoint %s, version %s): %s [alerts: %s]",
            monitor.name,
            monitor.spec.endpoint,
            breach.get("version"),
            breach.get("text"),
            ", ".join(monitor.spec.alerts) or "none",
        )
    if alerter is None or not monitor.spec.alerts or run.status in (FAILED, NO_DATA):
        return
    results = checks_of(monitor, run)
    if not results:
        return
    try:
        alerter.evaluate_run(monitor.name, results, channels=monitor.spec.alerts)
    except UsinaError as exc:  # say so; the run itself is stored and stands
        log.error("monitor %s: its alerts could not be raised: %s", monitor.name, exc)


def checks_of(monitor: Monitor, run: MonitorRun) -> builtins.list[CheckResult]:
    """Every check ``run`` evaluated, breached or not (see ``notify`` for the naming)."""
    from usina.monitoring.alerter import CheckResult

    found: dict[str, CheckResult] = {}

    def note(check: str, breached: bool, value: Any, threshold: Any, text: str) -> None:
        seen = found.get(check)
        if seen is None or (breached and not seen.breached):
            found[check] = CheckResult(check, breached, _float(value), _float(threshold), text)

    for entry in run.figures.get("versions", []):
        version = entry.get("version")
        for feature, d in (entry.get("drift") or {}).items():
            note(
                f"drift:{feature}",
                bool(d["drifted"]),
                d["value"],
                d["threshold"],
                f"{feature} drift on version {version}: {d['metric']} {_num(d['value'])} "
                f"(threshold {_num(d['threshold'])})",
            )
        for t in monitor.spec.thresholds:
            value = entry["figures"].get(t.metric)
            if value is not None:
                note(
                    f"metric:{t.metric}",
                    t.breached(value),
                    value,
                    t.value,
                    f"{t.metric} on version {version} is {_num(value)} (wanted {t.text})",
                )
    return list(found.values())


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def launcher(
    store: MonitorStore, fallback: Callable[[Schedule, float], str | None]
) -> Callable[[Schedule, float], str | None]:
    """A scheduler launcher that runs monitors' schedules (``monitor:NAME``) through ``store``
    with the window ending at the tick, and hands any other schedule to ``fallback``."""

    def launch(schedule: Schedule, tick: float) -> str | None:
        if not schedule.pipeline.startswith(TARGET):
            return fallback(schedule, tick)
        name = schedule.pipeline[len(TARGET) :]
        try:
            return store.run(name, end=tick).id
        except UsinaError as exc:  # deleted meanwhile, say: the other schedules still fire
            log.warning("schedule %s could not run monitor %s: %s", schedule.name, name, exc)
            return None

    return launch


# What a figure's threshold keeps (``auc>=0.7``) -> when the report's point breaches (``<``).
_BREACH_OP = {">=": "<", "<=": ">", ">": "<=", "<": ">="}
_NOT_PLOTTED = ("requests", "errors", "drift_share", "drifted_features")


@dataclass(frozen=True)
class _Drift:
    feature: str
    metric: str
    value: float | None
    threshold: float
    drifted: bool


def report_runs(monitor: Monitor, runs: Iterable[MonitorRun]) -> builtins.list[Any]:
    """``runs`` as the report's records (``usina.monitoring.report.ReportRun``): per window,
    the figures of the version that answered most of its requests."""
    from usina.monitoring.report import MetricPoint, ReportRun

    thresholds = {t.metric: t for t in monitor.spec.thresholds}
    out = []
    for run in runs:
        versions = run.figures.get("versions") or []
        if not versions:
            out.append(ReportRun(run.window_start, run.window_end))
            continue
        main = max(versions, key=lambda v: v["figures"].get("requests") or 0)
        figures = main["figures"]
        drift = [
            _Drift(name, d["metric"], d["value"], d["threshold"], bool(d["drifted"]))
            for name, d in (main.get("drift") or {}).items()
        ]
        metrics = {}
        for name, value in figures.items():
            if name in _NOT_PLOTTED or not isinstance(value, int | float):
                continue
            t = thresholds.get(name)
            if t is None:
                metrics[name] = MetricPoint(float(value))
            else:
                point = MetricPoint(float(value), t.value, _BREACH_OP[t.op], t.breached(value))
                metrics[name] = point
        for name, t in thresholds.items():  # a checked figure the window could not measure
            metrics.setdefault(name, MetricPoint(None, t.value, _BREACH_OP[t.op]))
        volume = int(figures.get("requests") or 0)
        out.append(ReportRun(run.window_start, run.window_end, drift, metrics, volume))
    return out
