"""Model quality and operations of an endpoint over a window of its request log.

Quality joins the window's logged answers to their late labels (``usina.monitoring.labels``)
and computes, per model version, with scikit-learn:

- classification: ``accuracy``, ``precision``, ``recall``, ``f1``, and, when the model answers
  a score (a probability in [0, 1], or a list of class probabilities), ``auc`` and
  ``log_loss``. Two classes: the positive class is the larger label (1, ``True``); more:
  macro averages, and no ``auc`` or ``log_loss``.
- regression: ``mae``, ``rmse``, ``mape``, ``r2``.

Operations need no labels: ``requests``, ``errors``, ``error_rate`` and ``latency_p50``,
``latency_p95``, ``latency_p99`` (milliseconds) per version, shadow answers left out.

Example:
    >>> quality([0.9, 0.2, 0.7, 0.4], [1, 0, 1, 1])["auc"]
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from usina.errors import InvalidInput

CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "auc", "log_loss")
REGRESSION = ("mae", "rmse", "mape", "r2")
OPERATIONS = ("requests", "errors", "error_rate", "latency_p50", "latency_p95", "latency_p99")
TASKS = ("classification", "regression")


@dataclass(frozen=True)
class VersionFigures:
    """One version's figures over a window: operations always, quality when labelled."""

    version: int | None
    requests: int
    errors: int
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    labelled: int = 0
    task: str | None = None
    quality: dict[str, float] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def figures(self) -> dict[str, float]:
        """Every figure by name (operations and quality), ``None`` ones left out."""
        found: dict[str, float] = {"requests": self.requests, "errors": self.errors}
        found["error_rate"] = self.error_rate
        for name in ("latency_p50", "latency_p95", "latency_p99"):
            value = getattr(self, name)
            if value is not None:
                found[name] = value
        found.update(self.quality)
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "labelled": self.labelled,
            "task": self.task,
            "figures": self.figures(),
        }


def _score(prediction: Any) -> float | None:
    """The positive class's score of one answer, or ``None`` when the answer is a class."""
    if isinstance(prediction, list) and prediction and all(_is_number(p) for p in prediction):
        return float(prediction[-1]) if len(prediction) == 2 else None
    if _is_number(prediction) and 0.0 <= prediction <= 1.0 and prediction != int(prediction):
        return float(prediction)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _class(prediction: Any, classes: Sequence[Any]) -> Any:
    if isinstance(prediction, list) and prediction:
        best = max(range(len(prediction)), key=lambda i: prediction[i])
        return classes[best] if len(classes) == len(prediction) else best
    score = _score(prediction)
    if score is not None:
        return classes[-1] if score >= 0.5 else classes[0]
    return prediction


def infer_task(predictions: Sequence[Any], labels: Sequence[Any]) -> str:
    """``classification`` when labels are strings or booleans, or whole numbers the
    predictions match in kind (classes or scores); ``regression`` otherwise."""
    if any(isinstance(y, str | bool) for y in labels):
        return "classification"
    if all(_is_number(y) and float(y).is_integer() for y in labels):
        whole = all(
            isinstance(p, list | bool | str)
            or _score(p) is not None
            or (_is_number(p) and float(p).is_integer())
            for p in predictions
        )
        if whole and len(set(labels)) <= 20:
            return "classification"
    return "regression"


def quality(
    predictions: Sequence[Any], labels: Sequence[Any], task: str | None = None
) -> dict[str, float]:
    """Quality figures of ``predictions`` (as the endpoint answered them) against ``labels``.

    Raises:
        InvalidInput: an unknown ``task``, or lists of different lengths.
    """
    return quality_of(predictions, labels, task)[1]


def quality_of(
    predictions: Sequence[Any], labels: Sequence[Any], task: str | None = None
) -> tuple[str | None, dict[str, float]]:
    """The task (given, or inferred) and :func:`quality`'s figures."""
    if len(predictions) != len(labels):
        raise InvalidInput("predictions and labels differ in length", field="labels")
    if task is not None and task not in TASKS:
        raise InvalidInput(f"task {task!r} is not one of {', '.join(TASKS)}", field="task")
    if not labels:
        return task, {}
    fast = _binary_numbers(predictions, labels, task)
    if fast is not None:
        return "classification", fast
    task = task or infer_task(predictions, labels)
    if task == "regression":
        return task, _regression(predictions, labels)
    return task, _classification(predictions, labels)


def _binary_numbers(
    predictions: Sequence[Any], labels: Sequence[Any], task: str | None
) -> dict[str, float] | None:
    """The figures of the common case with numpy instead of a Python loop per row: labels 0
    and 1, answers booleans, 0/1 classes or scores in [0, 1]; ``None`` for anything else."""
    import numpy as np

    if task == "regression":
        return None
    y = np.asarray(labels)
    p = np.asarray(predictions)
    if y.ndim != 1 or p.ndim != 1 or y.dtype.kind not in "biuf" or p.dtype.kind not in "biuf":
        return None
    if not np.array_equal(np.unique(y), [0, 1]):
        return None
    scores = p.astype(float)
    if not np.all((scores >= 0.0) & (scores <= 1.0)):
        return None
    from sklearn import metrics as m

    truth = y.astype(int)
    is_score = p.dtype.kind == "f" and not np.all(scores == np.round(scores))
    predicted = (scores >= 0.5).astype(int) if is_score else scores.astype(int)
    found = {
        "accuracy": float(m.accuracy_score(truth, predicted)),
        "precision": float(m.precision_score(truth, predicted, zero_division=0)),
        "recall": float(m.recall_score(truth, predicted, zero_division=0)),
        "f1": float(m.f1_score(truth, predicted, zero_division=0)),
        "auc": float(m.roc_auc_score(truth, scores)),
    }
    if is_score:
        found["log_loss"] = float(m.log_loss(truth, scores, labels=[0, 1]))
    return found


def _regression(predictions: Sequence[Any], labels: Sequence[Any]) -> dict[str, float]:
    import numpy as np
    from sklearn import metrics as m

    pairs = [(p, y) for p, y in zip(predictions, labels, strict=True) if _is_number(p)]
    if not pairs:
        return {}
    y_pred = np.array([p for p, _ in pairs], dtype=float)
    y_true = np.array([y for _, y in pairs], dtype=float)
    found = {
        "mae": float(m.mean_absolute_error(y_true, y_pred)),
        "rmse": float(math.sqrt(m.mean_squared_error(y_true, y_pred))),
        "mape": float(m.mean_absolute_percentage_error(y_true, y_pred)),
    }
    if len(pairs) >= 2:
        found["r2"] = float(m.r2_score(y_true, y_pred))
    return found


def _classification(predictions: Sequence[Any], labels: Sequence[Any]) -> dict[str, float]:
    from sklearn import metrics as m

    order = lambda v: (str(type(v)), v)  # noqa: E731 - a sort key, used twice
    classes = sorted(set(labels), key=order)
    predicted = [_class(p, classes) for p in predictions]
    seen = sorted(set(labels) | set(predicted), key=order)
    kind: dict[str, Any] = {"zero_division": 0}
    if len(seen) == 2 or (len(seen) == 1 and seen[0] in (0, 1)):
        kind.update(average="binary", pos_label=seen[-1] if len(seen) == 2 else 1)
    else:
        kind.update(average="macro")
    found = {
        "accuracy": float(m.accuracy_score(labels, predicted)),
        "precision": float(m.precision_score(labels, predicted, **kind)),
        "recall": float(m.recall_score(labels, predicted, **kind)),
        "f1": float(m.f1_score(labels, predicted, **kind)),
    }
    if len(classes) == 2:
        scores = [_score(p) for p in predictions]
        truth = [y == classes[-1] for y in labels]
        if all(s is not None for s in scores):
            found["auc"] = float(m.roc_auc_score(truth, scores))
            found["log_loss"] = float(m.log_loss(truth, scores, labels=[False, True]))
        elif all(_is_number(p) or isinstance(p, bool) for p in predictions):
            # Class answers (0/1, booleans): the AUC of a one-threshold score.
            found["auc"] = float(m.roc_auc_score(truth, [float(p) for p in predictions]))
    return found


def window_figures(
    conn: Any,
    endpoint: str,
    start: float,
    end: float,
    labels: Any = None,
    task: str | None = None,
) -> list[VersionFigures]:
    """Figures per version over ``[start, end)`` from ``conn``'s ``requests`` view (see
    ``usina.monitoring.logwindow.connect``), joined to ``labels`` (an Arrow table of
    request_id, row, label as JSON text) when given."""
    ops = conn.execute(
        """
        select version, count(*), count(*) filter (where status >= 400),
               quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.95),
               quantile_cont(latency_ms, 0.99)
        from requests
        where endpoint = ? and not shadow and time >= to_timestamp(?) and time < to_timestamp(?)
        group by version order by version nulls last
        """,
        [endpoint, start, end],
    ).fetchall()
    pairs: dict[int | None, tuple[list[Any], list[Any]]] = {}
    if labels is not None and labels.num_rows:
        conn.register("labels_now", labels)
        joined = conn.execute(
            """
            select r.version, json_extract(r.outputs, l.row), l.label
            from requests r join labels_now l using (request_id)
            where r.endpoint = ? and not r.shadow and r.status < 400
              and r.time >= to_timestamp(?) and r.time < to_timestamp(?)
            order by r.time, r.request_id, l.row
            """,
            [endpoint, start, end],
        ).fetchall()
        conn.unregister("labels_now")
        texts: dict[int | None, tuple[list[str], list[str]]] = {}
        for version, prediction, label in joined:
            if prediction is None:
                continue
            got = texts.setdefault(version, ([], []))
            got[0].append(prediction)
            got[1].append(label)
        for version, (answers, truth) in texts.items():  # one JSON parse per list: faster
            pairs[version] = (
                orjson.loads("[" + ",".join(answers) + "]"),
                orjson.loads("[" + ",".join(truth) + "]"),
            )
    found = []
    for version, requests, errors, p50, p95, p99 in ops:
        predictions, truth = pairs.get(version, ([], []))
        chosen, figures = quality_of(predictions, truth, task) if truth else (None, {})
        found.append(
            VersionFigures(version, requests, errors, p50, p95, p99, len(truth), chosen, figures)
        )
    return found
