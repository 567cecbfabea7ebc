"""Batch prediction speed and memory: usina's job against the limit, and against MLflow.

Two scikit-learn models on 8 numeric inputs (``--models``): ``gbr``, a GradientBoostingRegressor
of 100 trees of depth 3, whose own arithmetic dominates a row's cost; and ``linear``, a
LinearRegression, whose arithmetic is nearly free, so what is measured is the job around it. Each is
scored these ways, each in a fresh process:

  limit      the rows already in memory as one float64 matrix, scored by one vectorized call
             of the fast predictor usina uses (``usina.serving.fastpath.compile_predictor``),
             and by ``model.predict`` for reference; no reading, no writing
  usina      ``usina.batch.run``: Parquet (row groups of 262,144 rows) to a partitioned Parquet
             table in a local artifact folder, staged and published; model loading, signature
             check, per-row NaN check, output columns (id, prediction, model, version,
             scored_at, run_date) and the job's records in SQLite included; once with the
             fast predictor (as ``usina batch run`` does), once with ``fast_predict=False``
             (the model's own ``predict``, as MLflow calls it: the like-for-like row)
  mlflow     ``mlflow models predict -t csv --env-manager local`` on the first ``--mlflow-rows``
             rows as CSV (its batch command reads and writes one pandas DataFrame), from
             ``--mlflow-python``, timed from the command's start to its end

usina runs at 1M and at ``--rows`` (5M) rows; each reports rows/s and the process's peak
resident memory (``ru_maxrss``), which should not grow with the input. The best of
``--repeat`` rounds is kept. The machine this runs on is shared and noisy: compare ratios
from one run, not figures across runs.

    python benchmarks/batch.py --mlflow-python /work/main/.venv-bench/bin/python
    python benchmarks/batch.py --rows 1000000 --small 200000 --repeat 1     # a smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COLUMNS = [f"x{i}" for i in range(8)]
ROW_GROUP = 262_144
DATA = """
import numpy as np
rng = np.random.default_rng(42)
X = rng.normal(size=(5000, 8))
y = X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3] + rng.normal(scale=0.1, size=5000)
"""
GBR = "GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=0)"
MODELS = {
    "gbr": f"{DATA}from sklearn.ensemble import GradientBoostingRegressor\n"
    f"model = {GBR}.fit(X, y)\n",
    "linear": f"{DATA}from sklearn.linear_model import LinearRegression\n"
    "model = LinearRegression().fit(X, y)\n",
}

# Each measurement runs in its own process (``python batch.py --child KIND ...``), so its
# peak resident memory is its own.
CHILD_SETUP = """
import resource, sys, time, json
"""


def child_limit(workdir: Path, rows: int, kind: str) -> dict[str, Any]:
    import numpy as np
    import pyarrow.parquet as pq

    from usina.serving.fastpath import compile_predictor

    model = _train(kind)
    table = pq.read_table(workdir / f"in-{rows}.parquet", columns=COLUMNS)
    matrix = np.column_stack([table.column(c).to_numpy() for c in COLUMNS])
    del table
    fast = compile_predictor(model, len(COLUMNS))
    assert fast is not None
    start = time.perf_counter()
    fast(matrix)
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    model.predict(matrix)
    predict_s = time.perf_counter() - start
    return {"rows": rows, "fast_s": fast_s, "predict_s": predict_s}


def child_usina(workdir: Path, rows: int, kind: str, fast: bool = True) -> dict[str, Any]:
    import importlib
    import resource

    from usina.batch import run
    from usina.client import Client

    # What the job imports on first use (scikit-learn, skops, pyarrow's dataset and Parquet
    # modules: about 2.5 s here) is imported before the clock starts, as the limit's is.
    for module in (
        "pyarrow.dataset",
        "pyarrow.parquet",
        "skops.io",
        "sklearn.ensemble",
        "sklearn.linear_model",
    ):
        importlib.import_module(module)

    client = Client(f"sqlite:///{workdir / 'usina.db'}", str(workdir / "artifacts"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    done = run(
        "bench",
        f"models:/bench-{kind}@champion",
        str(workdir / f"in-{rows}.parquet"),
        f"scores_{kind}_{rows}",
        {"run_date": "2026-12-01"},
        ["id"],
        client=client,
        fast_predict=fast,
    )
    elapsed = time.perf_counter() - start
    assert done.rows_out == rows, done
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "rows": rows,
        "seconds": elapsed,
        "peak_rss_mb": peak / 1024,
        "rss_before_mb": before / 1024,
    }


def _train(kind: str) -> Any:
    scope: dict[str, Any] = {}
    exec(MODELS[kind], scope)
    return scope["model"]


def prepare(workdir: Path, sizes: list[int], kinds: list[str]) -> None:
    """The input Parquet files (the smaller ones are prefixes of the largest), and each model
    registered as ``bench-KIND@champion``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from usina.client import Client

    rng = np.random.default_rng(7)
    largest = max(sizes)
    writers = {n: pq.ParquetWriter(workdir / f"in-{n}.parquet", _schema(pa)) for n in sizes}
    for start in range(0, largest, ROW_GROUP):
        count = min(ROW_GROUP, largest - start)
        columns = {"id": pa.array(np.arange(start, start + count, dtype=np.int64))}
        for c in COLUMNS:
            columns[c] = pa.array(rng.normal(size=count))
        batch = pa.table(columns)
        for n, writer in writers.items():
            if start < n:
                writer.write_table(batch.slice(0, min(count, n - start)))
    for writer in writers.values():
        writer.close()
    import pandas as pd

    client = Client(f"sqlite:///{workdir / 'usina.db'}", str(workdir / "artifacts"))
    example = pd.DataFrame(np.zeros((2, 8)), columns=COLUMNS)
    for kind in kinds:
        version = client.register_model(_train(kind), f"bench-{kind}", input_example=example)
        client.set_alias(f"bench-{kind}", "champion", version.version)
    client.close()


def _schema(pa: Any) -> Any:
    return pa.schema([("id", pa.int64()), *[(c, pa.float64()) for c in COLUMNS]])


def in_child(side: str, workdir: Path, rows: int, kind: str) -> dict[str, Any]:
    out = subprocess.run(
        [
            *(sys.executable, __file__, "--child", side, "--workdir", str(workdir)),
            *("--rows", str(rows), "--models", kind),
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"{side} ({kind}) at {rows} rows failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def mlflow_side(workdir: Path, python: str | None, rows: int, kind: str) -> dict[str, Any] | None:
    if not python or not Path(python).exists():
        return None
    import pyarrow.csv as csv
    import pyarrow.parquet as pq

    source = workdir / f"in-{rows}.parquet"
    sliced = workdir / f"mlflow-{rows}.csv"
    if not sliced.exists():
        csv.write_csv(pq.read_table(source, columns=COLUMNS), sliced)
    model_dir = workdir / f"mlflow-model-{kind}"
    save = MODELS[kind] + (
        "import mlflow, mlflow.sklearn, pandas as pd\n"
        f"model.fit(pd.DataFrame(X, columns={COLUMNS!r}), y)\n"
        f"mlflow.sklearn.save_model(model, {str(model_dir)!r}, "
        f"input_example=pd.DataFrame(X[:2], columns={COLUMNS!r}), "
        "**({'skops_trusted_types': ['sklearn.tree._tree.Tree', "
        "'sklearn._loss.loss.HalfSquaredError', 'sklearn._loss.link.IdentityLink', "
        "'sklearn._loss.link.Interval', 'sklearn.dummy.DummyRegressor']} "
        "if mlflow.__version__ >= '3.' else {}))\n"
        "print(mlflow.__version__)\n"
    )
    if not model_dir.exists():
        out = subprocess.run([python, "-c", save], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"saving the MLflow model failed:\n{out.stderr}")
    version = subprocess.run(
        [python, "-c", "import mlflow; print(mlflow.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    mlflow = str(Path(python).parent / "mlflow")
    output = workdir / "mlflow-out.csv"
    env = {"PATH": f"{Path(python).parent}:/usr/bin:/bin", "HOME": str(workdir)}
    start = time.perf_counter()
    out = subprocess.run(
        [
            mlflow,
            "models",
            "predict",
            "-m",
            str(model_dir),
            "-i",
            str(sliced),
            "-o",
            str(output),
            "-t",
            "csv",
            "--env-manager",
            "local",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"mlflow models predict failed:\n{out.stderr[-3000:]}")
    return {"rows": rows, "seconds": seconds, "version": version}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="The large job's rows.")
    parser.add_argument("--small", type=int, default=1_000_000, help="The small job's rows.")
    parser.add_argument("--repeat", type=int, default=2, help="Rounds; the best is kept.")
    parser.add_argument("--models", default="gbr,linear", help="Models measured: gbr, linear.")
    parser.add_argument("--mlflow-python", help="Python of a virtualenv with mlflow.")
    parser.add_argument("--mlflow-rows", type=int, default=1_000_000, help="Rows MLflow scores.")
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    kinds = [k.strip() for k in args.models.split(",") if k.strip()]
    if unknown := set(kinds) - set(MODELS):
        parser.error(f"--models: unknown {sorted(unknown)}; choose from {sorted(MODELS)}")
    if args.child:
        workdir, kind = Path(args.workdir), kinds[0]
        if args.child == "limit":
            print(json.dumps(child_limit(workdir, args.rows, kind)))
        else:
            print(json.dumps(child_usina(workdir, args.rows, kind, args.child == "usina")))
        return

    sizes = sorted({args.small, args.rows, args.mlflow_rows if args.mlflow_python else args.small})
    results = {}
    with tempfile.TemporaryDirectory(prefix="usina-bench-batch-") as scratch:
        workdir = Path(scratch)
        prepare(workdir, sizes, kinds)
        for kind in kinds:
            usina: dict[int, dict[str, Any]] = {}
            predict: dict[str, Any] | None = None
            limit: dict[str, Any] | None = None
            mlflow = None
            for _ in range(args.repeat):
                for n in (args.small, args.rows):
                    got = in_child("usina", workdir, n, kind)
                    if n not in usina or got["seconds"] < usina[n]["seconds"]:
                        usina[n] = got
                got = in_child("usina-predict", workdir, args.rows, kind)
                if predict is None or got["seconds"] < predict["seconds"]:
                    predict = got
                got = in_child("limit", workdir, args.rows, kind)
                if limit is None or got["fast_s"] < limit["fast_s"]:
                    limit = got
                if args.mlflow_python:
                    got = mlflow_side(workdir, args.mlflow_python, args.mlflow_rows, kind)
                    if got is not None and (mlflow is None or got["seconds"] < mlflow["seconds"]):
                        mlflow = got
            assert limit is not None and predict is not None
            results[kind] = summarize(args, usina, predict, limit, mlflow)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for kind, result in results.items():
            report(kind, result)


def summarize(
    args: argparse.Namespace,
    usina: dict[int, dict[str, Any]],
    predict: dict[str, Any],
    limit: dict[str, Any],
    mlflow: dict[str, Any] | None,
) -> dict[str, Any]:
    large = usina[args.rows]
    rate = large["rows"] / large["seconds"]
    predict_job_rate = predict["rows"] / predict["seconds"]
    fast_rate = limit["rows"] / limit["fast_s"]
    predict_rate = limit["rows"] / limit["predict_s"]
    result: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "usina": {str(n): {**u, "rows_per_s": u["rows"] / u["seconds"]} for n, u in usina.items()},
        "usina, model.predict": {**predict, "rows_per_s": predict_job_rate},
        "limit": {**limit, "fast_rows_per_s": fast_rate, "predict_rows_per_s": predict_rate},
        "usina / limit (fast predictor)": rate / fast_rate,
        "usina, model.predict / limit (model.predict)": predict_job_rate / predict_rate,
        "peak RSS small / large": usina[args.small]["peak_rss_mb"] / large["peak_rss_mb"],
    }
    if mlflow is not None:
        mlflow_rate = mlflow["rows"] / mlflow["seconds"]
        result["mlflow"] = {**mlflow, "rows_per_s": mlflow_rate}
        result["usina / mlflow"] = rate / mlflow_rate
        result["usina, model.predict / mlflow"] = predict_job_rate / mlflow_rate
        result["limit (fast predictor) / mlflow"] = fast_rate / mlflow_rate
    return result


def report(kind: str, result: dict[str, Any]) -> None:
    print(f"model {kind}; machine: {result['machine']}")
    print(f"{'':36}{'rows':>12}{'seconds':>10}{'rows/s':>14}{'peak RSS MB':>14}")
    for n, u in result["usina"].items():
        print(
            f"{'usina job':36}{int(n):>12,}{u['seconds']:>10.2f}{u['rows_per_s']:>14,.0f}"
            f"{u['peak_rss_mb']:>14,.0f}"
        )
    p = result["usina, model.predict"]
    print(
        f"{'usina job, fast_predict=False':36}{p['rows']:>12,}{p['seconds']:>10.2f}"
        f"{p['rows_per_s']:>14,.0f}{p['peak_rss_mb']:>14,.0f}"
    )
    lim = result["limit"]
    print(
        f"{'limit: fast predictor, in memory':36}{lim['rows']:>12,}{lim['fast_s']:>10.2f}"
        f"{lim['fast_rows_per_s']:>14,.0f}"
    )
    print(
        f"{'limit: model.predict, in memory':36}{lim['rows']:>12,}{lim['predict_s']:>10.2f}"
        f"{lim['predict_rows_per_s']:>14,.0f}"
    )
    if "mlflow" in result:
        m = result["mlflow"]
        print(
            f"{'mlflow models predict ' + m['version']:36}{m['rows']:>12,}{m['seconds']:>10.2f}"
            f"{m['rows_per_s']:>14,.0f}"
        )
    print()
    fast = result["usina / limit (fast predictor)"]
    print(f"usina / limit (fast predictor): {fast:.2f} (goal >= 0.80)")
    like = result["usina, model.predict / limit (model.predict)"]
    print(f"usina with model.predict / limit (model.predict): {like:.2f}")
    rss = result["usina"]
    sizes = sorted(rss, key=int)
    print(
        f"peak RSS at {int(sizes[0]):,} / {int(sizes[-1]):,} rows: "
        f"{rss[sizes[0]]['peak_rss_mb']:,.0f} / {rss[sizes[-1]]['peak_rss_mb']:,.0f} MB "
        "(goal < 1,024 MB and the same within noise)"
    )
    if "usina / mlflow" in result:
        print(f"usina / mlflow rows/s: {result['usina / mlflow']:.1f} (goal >= 10)")
        print(
            "usina with model.predict / mlflow (like for like): "
            f"{result['usina, model.predict / mlflow']:.1f}"
        )
        print(
            "the limit (fast predictor, in memory) / mlflow: "
            f"{result['limit (fast predictor) / mlflow']:.1f}"
        )
    print()


if __name__ == "__main__":
    main()
