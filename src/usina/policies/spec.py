"""A policy's spec: what it reads from its YAML file, every field checked and, when wrong, named
with its line in the file; and the gate's rules, parsed by a small grammar (no ``eval``).

Example:
    >>> rule = parse_rule("auc >= champion.auc + 0.005")
    >>> rule.check({"auc": 0.91}, {"auc": 0.90}), rule.check({"auc": 0.9}, {"auc": 0.9})
    (True, False)
    >>> parse_rule("latency_p99 <= 1.2 * champion").bound({"latency_p99": 10.0})
    12.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from usina.errors import InvalidInput

QUALITY = ("accuracy", "precision", "recall", "f1", "auc", "log_loss", "mae", "rmse", "mape", "r2")
LATENCY = ("latency_p50", "latency_p95", "latency_p99")
GATE_METRICS = (*QUALITY, *LATENCY)
# Figures where lower is better: a live comparison flips its margin for them.
LOWER_IS_BETTER = ("log_loss", "mae", "rmse", "mape", *LATENCY)

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,99}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
_NUMBER = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_RULE = re.compile(
    rf"^\s*(?P<metric>[a-z_0-9]+)\s*(?P<op>>=|<=|>|<)\s*"
    rf"(?:(?P<const>{_NUMBER})\s*$|"
    rf"(?:(?P<factor>{_NUMBER})\s*\*\s*)?champion(?:\.(?P<of>[a-z_0-9]+))?"
    rf"\s*(?:(?P<sign>[-+])\s*(?P<offset>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?))?\s*$)"
)

FIELDS = {
    "name",
    "monitor",
    "model",
    "endpoint",
    "on_breach",
    "after",
    "cooldown",
    "retrain",
    "gate",
    "rollout",
    "rollback",
}
RETRAIN_FIELDS = {"pipeline", "params", "data_param", "dataset", "window", "timeout"}
GATE_FIELDS = {"rules", "holdout", "max_rows"}
ROLLOUT_FIELDS = {"canary", "shadow", "window", "min_requests", "patience", "metric", "margin"}
ROLLBACK_FIELDS = {"watch", "margin"}


@dataclass(frozen=True)
class GateRule:
    """``METRIC OP BOUND``: the bound a number, or ``[FACTOR *] champion[.METRIC] [± OFFSET]``."""

    text: str
    metric: str
    op: str
    constant: float | None = None
    factor: float = 1.0
    of: str | None = None
    offset: float = 0.0

    def bound(self, champion: Mapping[str, float]) -> float | None:
        """The bound against the champion's figures (``None``: the champion lacks the figure)."""
        if self.constant is not None:
            return self.constant
        base = champion.get(self.of or self.metric)
        return None if base is None else self.factor * float(base) + self.offset

    def check(self, candidate: Mapping[str, float], champion: Mapping[str, float]) -> bool:
        """Whether the candidate's figure keeps the bound; a figure or bound that cannot be
        measured fails the rule (a gate passes only what it could check)."""
        value, bound = candidate.get(self.metric), self.bound(champion)
        if value is None or bound is None:
            return False
        return {
            ">=": value >= bound,
            "<=": value <= bound,
            ">": value > bound,
            "<": value < bound,
        }[self.op]


def parse_rule(text: Any) -> GateRule:
    """A gate rule from its text: ``accuracy >= 0.8``, ``auc >= champion.auc + 0.005``,
    ``latency_p99 <= 1.2 * champion.latency_p99`` (``champion`` alone: the same metric)."""
    found = _RULE.match(text) if isinstance(text, str) else None
    if found is None:
        raise InvalidInput(
            f"gate rule {text!r} cannot be parsed; write METRIC OP BOUND, the bound a number "
            "or [FACTOR *] champion[.METRIC] [+|- OFFSET], e.g. 'auc >= champion.auc + 0.005'",
            field="gate.rules",
        )
    g = found.groupdict()
    for metric in (g["metric"], g["of"]):
        if metric is not None and metric not in GATE_METRICS:
            raise InvalidInput(
                f"gate rule {text!r}: unknown metric {metric!r}; the metrics are "
                f"{', '.join(GATE_METRICS)}",
                field="gate.rules",
            )
    offset = float(g["offset"] or 0.0) * (-1.0 if g["sign"] == "-" else 1.0)
    return GateRule(
        " ".join(text.split()),
        g["metric"],
        g["op"],
        None if g["const"] is None else float(g["const"]),
        1.0 if g["factor"] is None else float(g["factor"]),
        g["of"],
        offset,
    )


@dataclass(frozen=True)
class PolicySpec:
    """A checked policy (see ``docs/policies.md`` for every field)."""

    name: str
    monitor: str
    model: str
    endpoint: str | None
    after: int
    cooldown_s: float
    pipeline: str
    params: dict[str, Any]
    data_param: str | None
    dataset: str
    data_window_s: float
    retrain_timeout_s: float
    rules: tuple[GateRule, ...]
    holdout: str | None
    max_rows: int
    canary: int
    shadow: bool
    window_s: float
    min_requests: int
    metric: str
    margin: float
    watch_s: float
    rollback_margin: float
    patience: int = 3
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "monitor": self.monitor,
            "model": self.model,
            "endpoint": self.endpoint,
            "on_breach": "retrain",
            "after": self.after,
            "cooldown": self.cooldown_s,
            "retrain": {
                "pipeline": self.pipeline,
                "params": self.params,
                "data_param": self.data_param,
                "dataset": self.dataset,
                "window": self.data_window_s,
                "timeout": self.retrain_timeout_s,
            },
            "gate": {
                "rules": [r.text for r in self.rules],
                "holdout": self.holdout,
                "max_rows": self.max_rows,
            },
            "rollout": {
                "canary": self.canary,
                "shadow": self.shadow,
                "window": self.window_s,
                "min_requests": self.min_requests,
                "patience": self.patience,
                "metric": self.metric,
                "margin": self.margin,
            },
            "rollback": {"watch": self.watch_s, "margin": self.rollback_margin},
        }


def spec_from_dict(d: Mapping[str, Any], source: str = "") -> PolicySpec:
    """A spec back from :meth:`PolicySpec.to_dict` (as stored: already checked)."""
    r, g, o, b = d["retrain"], d["gate"], d["rollout"], d["rollback"]
    return PolicySpec(
        d["name"],
        d["monitor"],
        d["model"],
        d.get("endpoint"),
        int(d["after"]),
        float(d["cooldown"]),
        r["pipeline"],
        dict(r["params"]),
        r.get("data_param"),
        r["dataset"],
        float(r["window"]),
        float(r["timeout"]),
        tuple(parse_rule(x) for x in g["rules"]),
        g.get("holdout"),
        int(g["max_rows"]),
        int(o["canary"]),
        bool(o["shadow"]),
        float(o["window"]),
        int(o["min_requests"]),
        o["metric"],
        float(o["margin"]),
        float(b["watch"]),
        float(b["margin"]),
        int(o.get("patience", 3)),
        source,
    )


@dataclass
class Located:
    """A YAML document as plain data, with the line of each value by its path."""

    data: Any
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)
    start: int = 1

    def line(self, *path: Any) -> int:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.start


class Resolver(Protocol):
    """What a spec names, checked against the installation: a store supplies these."""

    def monitor_endpoint(self, name: str) -> str:
        """The endpoint the monitor ``name`` watches; ``NotFound`` if none."""
        ...

    def endpoint_model(self, name: str) -> str:
        """The model the endpoint ``name`` serves; ``NotFound`` if none."""
        ...

    def pipeline_params(self, ref: str) -> dict[str, bool]:
        """The pipeline's parameters, each with whether it is required."""
        ...


def load_documents(text: str, filename: str) -> list[Located]:
    """The YAML documents of ``text`` with their lines; a syntax error names its line."""
    import yaml

    if not isinstance(text, str):
        raise InvalidInput("a policy file is YAML text", field="text")
    found = []
    try:
        loader = yaml.SafeLoader(text)
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is None:
                    continue
                located = Located(loader.construct_document(node), start=node.start_mark.line + 1)
                _walk(node, (), located.lines)
                found.append(located)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark is not None else filename
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"{where}: not valid YAML: {problem}", field="text") from None
    if not found:
        raise InvalidInput(f"{filename}: no policy in the file", field="text")
    return found


def _walk(node: Any, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            where = (*path, key.value)
            lines[where] = value.start_mark.line + 1
            _walk(value, where, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            lines[(*path, i)] = value.start_mark.line + 1
            _walk(value, (*path, i), lines)


class _Checker:
    """Checks one document, raising ``InvalidInput`` that names the file, line and value."""

    def __init__(self, doc: Located, filename: str) -> None:
        self.doc = doc
        self.filename = filename

    def fail(self, path: tuple[Any, ...], message: str) -> InvalidInput:
        dotted = ".".join(str(p) for p in path) or "policy"
        return InvalidInput(
            f"{self.filename}:{self.doc.line(*path)}: {dotted}: {message}", field=dotted
        )

    def section(self, d: Mapping[str, Any], key: str, known: set[str]) -> Mapping[str, Any]:
        value = d.get(key) or {}
        if not isinstance(value, Mapping):
            raise self.fail((key,), f"{value!r} is not a mapping of fields")
        self.known(value, known, (key,))
        return value

    def known(self, d: Mapping[str, Any], known: set[str], path: tuple[Any, ...]) -> None:
        for key in d:
            if key not in known:
                raise self.fail(
                    (*path, key),
                    f"unknown field {key!r}; the fields are {', '.join(sorted(known))}",
                )

    def duration(self, value: Any, path: tuple[Any, ...], minimum: float = 0.0) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        else:
            found = _DURATION.match(value) if isinstance(value, str) else None
            if found is None:
                raise self.fail(path, f"{value!r} is not a duration; write 30s, 10m, 1h or 1d")
            seconds = float(found.group(1)) * _SECONDS[found.group(2) or "s"]
        if not math.isfinite(seconds) or seconds < minimum:
            raise self.fail(path, f"{value!r} is below {minimum:g} seconds")
        return seconds

    def integer(self, value: Any, path: tuple[Any, ...], low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(path, f"{value!r} is not a whole number from {low} to {high}")
        return value

    def number(self, value: Any, path: tuple[Any, ...]) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.fail(path, f"{value!r} is not a number")
        return float(value)

    def name(self, value: Any, path: tuple[Any, ...], what: str) -> str:
        if not isinstance(value, str) or not NAME.fullmatch(value):
            raise self.fail(path, f"{value!r} is not a {what} name (letters, digits, '._-')")
        return value


def check_document(
    doc: Located, filename: str, resolver: Resolver, base: str | None = None
) -> PolicySpec:
    """One policy from its document, every field checked (against ``resolver`` for what it
    names); ``base`` is the folder a relative pipeline path is read from."""
    from usina.errors import NotFound

    c = _Checker(doc, filename)
    d = doc.data
    if not isinstance(d, Mapping):
        raise c.fail((), f"a policy is a mapping of fields, not {type(d).__name__}")
    c.known(d, FIELDS, ())
    name = c.name(d.get("name"), ("name",), "policy")
    if d.get("on_breach", "retrain") != "retrain":
        raise c.fail(("on_breach",), f"{d.get('on_breach')!r} is not an action; write retrain")
    monitor = c.name(d.get("monitor"), ("monitor",), "monitor")
    try:
        watched = resolver.monitor_endpoint(monitor)
    except NotFound:
        raise c.fail(("monitor",), f"unknown monitor {monitor!r}; create it first") from None
    endpoint = d.get("endpoint", watched)
    model = d.get("model")
    if endpoint is not None:
        endpoint = c.name(endpoint, ("endpoint",), "endpoint")
        try:
            served = resolver.endpoint_model(endpoint)
        except NotFound:
            raise c.fail(("endpoint",), f"unknown endpoint {endpoint!r}") from None
        if model is not None and model != served:
            raise c.fail(("model",), f"{model!r} is not the model endpoint {endpoint} serves")
        model = served
    if model is None:
        raise c.fail(("model",), "a policy without an endpoint names its model: model: NAME")
    model = c.name(model, ("model",), "model")
    after = c.integer(d.get("after", 1), ("after",), 1, 1000)
    cooldown = c.duration(d.get("cooldown", "1h"), ("cooldown",))

    r = c.section(d, "retrain", RETRAIN_FIELDS)
    pipeline = r.get("pipeline")
    if not isinstance(pipeline, str) or ":" not in pipeline:
        raise c.fail(("retrain", "pipeline"), f"{pipeline!r} is not FILE.py:NAME")
    where, _, attr = pipeline.rpartition(":")
    if base is not None and where.endswith(".py") and not where.startswith("/"):
        import os.path

        pipeline = f"{os.path.normpath(os.path.join(base, where))}:{attr}"
    try:
        declared = resolver.pipeline_params(pipeline)
    except (InvalidInput, OSError, ValueError) as exc:  # a path the system refuses, say
        raise c.fail(("retrain", "pipeline"), f"unknown pipeline {pipeline!r}: {exc}") from None
    params = r.get("params") or {}
    if not isinstance(params, Mapping):
        raise c.fail(("retrain", "params"), f"{params!r} is not a mapping of parameters")
    for key in params:
        if key not in declared:
            raise c.fail(
                ("retrain", "params", key),
                f"unknown parameter {key!r} of {attr}; its parameters are "
                f"{', '.join(declared) or 'none'}",
            )
    data_param = r.get("data_param")
    if data_param is not None and data_param not in declared:
        raise c.fail(
            ("retrain", "data_param"),
            f"unknown parameter {data_param!r} of {attr}; its parameters are "
            f"{', '.join(declared) or 'none'}",
        )
    missing = [k for k, req in declared.items() if req and k not in params and k != data_param]
    if missing:
        raise c.fail(("retrain", "params"), f"required parameter {missing[0]!r} has no value")
    dataset = c.name(r.get("dataset", f"{name}-window"), ("retrain", "dataset"), "dataset")

    g = c.section(d, "gate", GATE_FIELDS)
    texts = g.get("rules") or []
    if isinstance(texts, str) or not isinstance(texts, Iterable):
        raise c.fail(("gate", "rules"), f"{texts!r} is not a list of rules")
    rules = []
    for i, text in enumerate(texts):
        try:
            rules.append(parse_rule(text))
        except InvalidInput as exc:
            raise c.fail(("gate", "rules", i), str(exc)) from None
    holdout = g.get("holdout")
    if holdout is not None and not (isinstance(holdout, str) and holdout.startswith("datasets:/")):
        raise c.fail(("gate", "holdout"), f"{holdout!r} is not datasets:/NAME@latest or /N")

    if endpoint is None and data_param is not None:
        raise c.fail(
            ("retrain", "data_param"),
            f"{data_param!r}: a batch model (no endpoint) has no labelled traffic to pass; give "
            "the pipeline its data in retrain.params",
        )
    if endpoint is None and holdout is None:
        raise c.fail(
            ("gate", "holdout"),
            "a batch model (no endpoint) is gated on a holdout: give datasets:/NAME@latest",
        )

    o = c.section(d, "rollout", ROLLOUT_FIELDS)
    shadow = o.get("shadow", False)
    if not isinstance(shadow, bool):
        raise c.fail(("rollout", "shadow"), f"{shadow!r} is not true or false")
    canary = o.get("canary", 10)
    if isinstance(canary, bool) or not isinstance(canary, int | float) or not 0 < canary < 100:
        raise c.fail(
            ("rollout", "canary"),
            f"canary share {canary!r} is outside (0, 100); give a whole percent such as 10",
        )
    if canary != int(canary):
        raise c.fail(("rollout", "canary"), f"canary share {canary!r} is not a whole percent")
    metric = o.get("metric", "accuracy")
    if metric not in QUALITY:
        raise c.fail(
            ("rollout", "metric"),
            f"unknown metric {metric!r}; the quality metrics are {', '.join(QUALITY)}",
        )
    b = c.section(d, "rollback", ROLLBACK_FIELDS)
    return PolicySpec(
        name=name,
        monitor=monitor,
        model=model,
        endpoint=endpoint,
        after=after,
        cooldown_s=cooldown,
        pipeline=pipeline,
        params=dict(params),
        data_param=data_param,
        dataset=dataset,
        data_window_s=c.duration(r.get("window", "1d"), ("retrain", "window"), 1.0),
        retrain_timeout_s=c.duration(r.get("timeout", "1h"), ("retrain", "timeout"), 1.0),
        rules=tuple(rules),
        holdout=holdout,
        max_rows=c.integer(g.get("max_rows", 2000), ("gate", "max_rows"), 10, 1_000_000),
        canary=int(canary),
        shadow=shadow,
        window_s=c.duration(o.get("window", "1h"), ("rollout", "window"), 0.1),
        min_requests=c.integer(o.get("min_requests", 100), ("rollout", "min_requests"), 1, 10**9),
        metric=metric,
        margin=c.number(o.get("margin", 0.0), ("rollout", "margin")),
        watch_s=c.duration(b.get("watch", "1d"), ("rollback", "watch"), 0.0),
        rollback_margin=c.number(b.get("margin", 0.02), ("rollback", "margin")),
        patience=c.integer(o.get("patience", 3), ("rollout", "patience"), 1, 1000),
    )


def check_file(
    text: str, filename: str, resolver: Resolver, base: str | None = None
) -> list[PolicySpec]:
    """Every policy of a file, all checked before any is stored; two with one name are refused."""
    specs: list[PolicySpec] = []
    for doc in load_documents(text, filename):
        spec = check_document(doc, filename, resolver, base)
        if any(s.name == spec.name for s in specs):
            raise InvalidInput(
                f"{filename}:{doc.line('name')}: name: policy {spec.name!r} appears twice",
                field="name",
            )
        specs.append(spec)
    return specs


def changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """The dotted fields that differ between two specs' dicts (every field for a new one)."""
    found: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
        elif a != b:
            found.append(path)

    walk(old or {}, new, "")
    return found
