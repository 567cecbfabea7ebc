"""The retraining pipeline of the policy tests: a logistic regression on the labelled window the
policy passes in (``data``); ``flip`` trains on inverted labels (a candidate the gate must
refuse), ``fail`` raises (a retraining that fails)."""

from __future__ import annotations

from typing import Any, NamedTuple

import usina.pipelines as up
from usina.pipelines import Dataset, Metrics, Model

MODEL = "loop-model"


class Trained(NamedTuple):
    model: Model
    metrics: Metrics


@up.step(register=MODEL)
def fit(data: Dataset, flip: bool = False, fail: bool = False) -> Trained:
    from sklearn.linear_model import LogisticRegression

    if fail:
        raise RuntimeError("the training data could not be read (a test's failure)")
    frame: Any = data.to_pandas()
    labels = frame["label"].astype(int)
    if flip:
        labels = 1 - labels
    model = LogisticRegression().fit(frame[["x"]], labels)
    accuracy = float((model.predict(frame[["x"]]) == labels).mean())
    return Trained(model, Metrics({"accuracy": accuracy}))


@up.pipeline(name="loop-retraining")
def retraining(data: str = "", flip: bool = False, fail: bool = False):  # type: ignore[no-untyped-def]
    fit(data, flip, fail)
