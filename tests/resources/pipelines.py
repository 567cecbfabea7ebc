"""Tiny pipelines the pipeline tests run; each records what it did in files under ``workdir``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import NamedTuple

import usina
from usina import Dataset, Metrics, Model


def _bump(workdir: str, name: str) -> int:
    """Count calls of ``name`` in a file (a step's way to tell tests it ran)."""
    path = Path(workdir) / f"{name}.count"
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return count


def calls(workdir: str, name: str) -> int:
    """How many times a step counted itself."""
    path = Path(workdir) / f"{name}.count"
    return int(path.read_text()) if path.exists() else 0


@usina.step
def load(workdir: str, n: int = 40) -> Dataset:
    import pyarrow as pa

    _bump(workdir, "load")
    print(f"loading {n} rows")
    return pa.table({"x": [float(i) for i in range(n)], "y": [i % 2 for i in range(n)]})


@usina.step
def scale(data: Dataset, factor: float) -> Dataset:
    frame = data.to_pandas()
    frame["x"] = frame["x"] * factor
    return frame


@usina.step
def total(data: Dataset) -> float:
    return float(data.to_pandas()["x"].sum())


@usina.step
def count_rows(data: Dataset) -> int:
    return len(data.to_arrow())


@usina.step
def report(total: float, rows: int) -> Metrics:
    return Metrics({"total": total, "rows": rows})


@usina.pipeline
def chain(workdir: str, factor: float = 2.0, n: int = 40):
    data = load(workdir, n)
    scaled = scale(data, factor)
    report(total(scaled), count_rows(data))


@usina.step
def nap(workdir: str, name: str, seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@usina.pipeline
def parallel(workdir: str, seconds: float = 0.6):
    nap(workdir, "a", seconds)
    nap(workdir, "b", seconds)


@usina.step
def fragile(data: Dataset, workdir: str) -> Dataset:
    """Fails until a file named ``ok`` exists in ``workdir``."""
    _bump(workdir, "fragile")
    if not (Path(workdir) / "ok").exists():
        raise RuntimeError("upstream file not ready")
    return data


@usina.pipeline
def resumable(workdir: str):
    data = load(workdir)
    total(fragile(data, workdir))
    count_rows(data)


@usina.step(retries=2)
def flaky(workdir: str) -> int:
    """Fails on its first attempt, then succeeds."""
    attempt = _bump(workdir, "flaky")
    if attempt < 2:
        raise ConnectionError(f"attempt {attempt}: the service did not answer")
    return attempt


@usina.pipeline
def retrying(workdir: str):
    flaky(workdir)


@usina.step(timeout=0.5)
def slow(workdir: str) -> int:
    """Waits for a release file no test creates, so its 0.5 s timeout must end it; the 60 s
    deadline only bounds a runner that fails to."""
    release = Path(workdir, "release-slow")
    deadline = time.monotonic() + 60
    while not release.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the runner did not end this step at its 0.5 s timeout")
        time.sleep(0.05)
    return 1


@usina.step
def after_slow(value: int) -> int:
    return value


@usina.pipeline
def timing_out(workdir: str):
    after_slow(slow(workdir))


class Trained(NamedTuple):
    model: Model
    metrics: Metrics


@usina.step(register="credit-risk")
def train(features: Dataset, C: float = 1.0) -> Trained:
    from sklearn.linear_model import LogisticRegression

    frame = features.to_pandas()
    model = LogisticRegression(C=C).fit(frame[["x", "x2"]], frame["y"])
    return Trained(model, Metrics({"accuracy": float(model.score(frame[["x", "x2"]], frame["y"]))}))


@usina.step
def evaluate(model: Model, features: Dataset) -> Metrics:
    frame = features.to_pandas()
    return Metrics({"accuracy": float(model.load().score(frame[["x", "x2"]], frame["y"]))})


@usina.pipeline
def training(workdir: str, C: float = 1.0):
    raw = load(workdir)
    features = usina.sql_step("queries/features.sql", inputs={"raw": raw})
    trained = train(features, C=C)
    evaluate(trained.model, features)


def pid() -> int:
    return os.getpid()


@usina.step
def one(workdir: str) -> int:
    return 1


@usina.pipeline
def tiny(workdir: str):
    one(workdir)


@usina.step
def crash(workdir: str) -> int:
    """Ends its process without a word, as a segfault in a C extension would."""
    os._exit(3)


@usina.pipeline
def crashing(workdir: str):
    crash(workdir)
    one(workdir)


@usina.step(timeout=120)
def fit_histogram_boosting(seed: int) -> float:
    """Fits a model whose training runs OpenMP parallel regions."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.random.default_rng(seed).normal(size=(2000, 5))
    y = (x[:, 0] > 0).astype(int)
    return float(HistGradientBoostingClassifier(max_iter=5).fit(x, y).score(x, y))


@usina.pipeline
def openmp_fits(seed: int = 0, other_seed: int = 1):
    fit_histogram_boosting(seed=seed)
    fit_histogram_boosting(seed=other_seed)


# A string no other test writes: the encryption test looks for its bytes on disk.
CANARY = "c4n4ry-0f7e3a91"


@usina.step
def canary_table() -> Dataset:
    import pyarrow as pa

    return pa.table({"note": [CANARY] * 3, "n": [1, 2, 3]})


@usina.pipeline
def canary_output():
    canary_table()
