"""Reference summaries of model versions: ``summarize`` of the data a version was trained (or
validated) on, stored once as JSON next to the version, so a monitor never rereads that data.

The summary lives in the artifact store under ``references/models/NAME/VERSION.json``; setting
it again replaces it. The model's own answers on the data, when it can give them, are
summarised as the ``prediction`` column, the way the request log holds its answers.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from usina.artifacts import ArtifactStore
from usina.monitoring.summaries import Summary, summarize

PREFIX = "references/models"
PREDICTION = "prediction"

log = logging.getLogger("usina.monitoring")


def reference_key(model: str, version: int) -> str:
    return f"{PREFIX}/{model}/{version}.json"


def reference_of(table: Any, model: Any = None) -> Summary:
    """The summary of ``table`` (a pandas DataFrame or an Arrow table), with ``model``'s
    predictions on it as the ``prediction`` column when it answers one value per row."""
    import pyarrow as pa

    frame = table.to_pandas() if isinstance(table, pa.Table) else table
    if model is None or PREDICTION in frame.columns:
        return summarize(frame)
    try:
        answers = model.predict(frame)
    except Exception as exc:  # noqa: BLE001 - any failure: the features are still summarised
        log.info("the reference has no prediction column: the model could not predict (%s)", exc)
        return summarize(frame)
    if getattr(answers, "ndim", 1) != 1 or len(answers) != len(frame):
        return summarize(frame)
    return summarize(frame.assign(**{PREDICTION: answers}), prediction=PREDICTION)


def save_reference(artifacts: ArtifactStore, model: str, version: int, summary: Summary) -> str:
    key = reference_key(model, version)
    artifacts.write(key, orjson.dumps(summary.to_dict()))
    return key


def load_reference(artifacts: ArtifactStore, model: str, version: int) -> Summary | None:
    """The version's reference summary, or ``None`` when it has none."""
    key = reference_key(model, version)
    if not artifacts.exists(key):
        return None
    with artifacts.open(key) as f:
        return Summary.from_dict(orjson.loads(f.read()))
