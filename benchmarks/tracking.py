"""Tracking and registry speed: usina against MLflow, both on SQLite, side by side in one run.

What it measures (the same work on both sides, each in its own fresh temporary folder):

1. per call:     N metric values logged one call at a time
                 (usina ``run.log_metric``; MLflow ``MlflowClient().log_metric``).
2. batched:      the same N values in batches of 1,000
                 (usina ``run.log_metric`` x 1,000 then ``run.flush()``;
                 MLflow ``MlflowClient().log_batch``).
3. registration: M fitted scikit-learn LogisticRegressions stored and registered as versions
                 of one model (usina ``client.register_model`` with an input example; MLflow
                 ``mlflow.sklearn.log_model`` with ``registered_model_name`` and
                 ``pip_requirements``, its fastest configuration).

The metric timings stop only once every value is committed to the database (usina buffers
metrics, so its ``run.flush()`` is inside the timed region). Both sides are warmed up the
same way first (100 metrics one by one, 100 in one batch, one registration), and the warm-up
is excluded. Every model has different coefficients, so neither side can skip writing an
artifact it already stored. Each benchmark runs ``--repeat`` times, usina and MLflow taking
turns so both see the same load; the figure shown is the median.

Run it with the ``bench`` extra installed (it brings MLflow):

    make bench
    python benchmarks/tracking.py             # N = 10,000 metrics, M = 100 models, 3 repeats
    python benchmarks/tracking.py --quick     # N = 2,000, M = 10, 1 repeat: a smoke run
    python benchmarks/tracking.py --json      # the same, machine-readable
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BATCH = 1000  # MLflow's limit on metrics per log_batch call
GOALS = {"per call": 50.0, "batched": 5.0, "registration": 5.0}  # usina speed / MLflow speed
WARMUP = "warm-up, excluded: 100 metrics one by one, 100 in one batch, 1 registration per side"


@dataclass(frozen=True)
class Result:
    """One benchmark: seconds each side took, per repetition, for the same ``count`` operations."""

    name: str
    unit: str
    count: int
    usina_s: list[float]
    mlflow_s: list[float]
    goal: float

    @property
    def ratio(self) -> float:
        return statistics.median(self.mlflow_s) / statistics.median(self.usina_s)

    @property
    def met(self) -> bool:
        return self.ratio >= self.goal


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- usina ----------------------------------------------------------------------------------


def usina_metrics(client: Any, n: int, batched: bool) -> float:
    run = client.start_run(experiment="bench")

    def work() -> None:
        for i in range(n):
            run.log_metric("loss", 1.0 / (i + 1), step=i)
            if batched and (i + 1) % BATCH == 0:
                run.flush()
        run.flush()  # every value is committed when the clock stops

    seconds = timed(work)
    run.end()
    return seconds


def usina_register(client: Any, models: list[Any], example: Any) -> float:
    def work() -> None:
        for model in models:
            client.register_model(model, "bench-model", input_example=example)

    return timed(work)


# -- MLflow ---------------------------------------------------------------------------------


def mlflow_metrics(client: Any, experiment_id: str, n: int, batched: bool) -> float:
    from mlflow.entities import Metric

    run_id = client.create_run(experiment_id).info.run_id

    def work() -> None:
        if not batched:
            for i in range(n):
                client.log_metric(run_id, "loss", 1.0 / (i + 1), step=i)
            return
        for start in range(0, n, BATCH):
            now = int(time.time() * 1000)
            steps = range(start, min(n, start + BATCH))
            client.log_batch(run_id, metrics=[Metric("loss", 1.0 / (i + 1), now, i) for i in steps])

    seconds = timed(work)
    client.set_terminated(run_id)
    return seconds


def mlflow_register(models: list[Any], requirements: list[str]) -> float:
    import mlflow.sklearn

    def work() -> None:
        for model in models:
            mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name="bench-model",
                pip_requirements=requirements,
            )

    # MLflow prints "Created version N of model ..." to stderr for every model.
    with contextlib.redirect_stderr(io.StringIO()):
        return timed(work)


# -- the comparison -------------------------------------------------------------------------


def fitted_models(count: int) -> tuple[list[Any], Any]:
    """``count`` small LogisticRegressions, each with different coefficients, and X[:5]."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return [LogisticRegression(C=0.01 * (k + 1)).fit(X, y) for k in range(count)], X[:5]


def run_all(n_metrics: int, n_models: int, repeat: int, root: Path) -> list[Result]:
    import mlflow
    import sklearn
    from mlflow import MlflowClient

    from usina.client import Client

    models, example = fitted_models(1 + n_models * repeat)
    requirements = [f"scikit-learn=={sklearn.__version__}"]

    client = Client(f"sqlite:///{root / 'usina' / 'usina.db'}", str(root / "usina" / "artifacts"))
    (root / "mlflow").mkdir()
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
    mlflow.set_registry_uri(mlflow.get_tracking_uri())
    ml = MlflowClient()
    experiment_id = ml.create_experiment("bench", artifact_location=str(root / "mlflow" / "art"))
    mlflow.set_experiment(experiment_id=experiment_id)

    try:
        for batched in (False, True):
            usina_metrics(client, 100, batched)
            mlflow_metrics(ml, experiment_id, 100, batched)
        usina_register(client, models[:1], example)
        mlflow_register(models[:1], requirements)

        times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in GOALS}
        for r in range(repeat):
            for name, batched in (("per call", False), ("batched", True)):
                times[name][0].append(usina_metrics(client, n_metrics, batched))
                times[name][1].append(mlflow_metrics(ml, experiment_id, n_metrics, batched))
            fresh = models[1 + r * n_models : 1 + (r + 1) * n_models]
            times["registration"][0].append(usina_register(client, fresh, example))
            times["registration"][1].append(mlflow_register(fresh, requirements))
    finally:
        client.close()
    sizes = {
        "per call": (n_metrics, "metric"),
        "batched": (n_metrics, "metric"),
        "registration": (n_models, "version"),
    }
    return [
        Result(name, unit, count, *times[name], GOALS[name])
        for name, (count, unit) in sizes.items()
    ]


def describe(seconds: list[float], count: int, unit: str) -> str:
    median = statistics.median(seconds)
    per_op = median / count
    shown = f"{per_op * 1e6:.1f} us" if per_op < 1e-3 else f"{per_op * 1e3:.2f} ms"
    return f"{shown}/{unit} ({count / median:,.0f}/s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 metrics, 10 models, 1 repeat")
    parser.add_argument("--repeat", type=int, help="repetitions per benchmark (default 3)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    n_metrics, n_models = (2_000, 10) if args.quick else (10_000, 100)
    repeat = args.repeat or (1 if args.quick else 3)

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no calls home while timing
    try:
        import mlflow
    except ImportError:
        print("MLflow is missing: pip install -e '.[bench]' (or run 'make bench')", file=sys.stderr)
        return 2
    import usina

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # "Creating initial tables..."
    with tempfile.TemporaryDirectory(prefix="usina-bench-") as tmp:
        results = run_all(n_metrics, n_models, repeat, Path(tmp))

    about = {
        "usina": usina.__version__,
        "mlflow": mlflow.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "metrics": n_metrics,
        "models": n_models,
        "repeat": repeat,
        "warmup": WARMUP,
    }
    if args.json:
        rows = [asdict(r) | {"ratio": r.ratio, "met": r.met} for r in results]
        print(json.dumps({**about, "results": rows}, indent=2))
        return 0
    print(
        f"usina {about['usina']} vs MLflow {about['mlflow']}, both on SQLite; Python "
        f"{about['python']}, {about['cpus']} CPUs; {n_metrics:,} metrics, {n_models} models; "
        f"median of {repeat}"
    )
    print(WARMUP)
    print(f"{'benchmark':<13} {'usina':>28} {'MLflow':>28} {'ratio':>8} {'goal':>6}  met")
    for r in results:
        print(
            f"{r.name:<13} {describe(r.usina_s, r.count, r.unit):>28} "
            f"{describe(r.mlflow_s, r.count, r.unit):>28} {r.ratio:>7.1f}x {r.goal:>5.0f}x  "
            f"{'yes' if r.met else 'NO'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
