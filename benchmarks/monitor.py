"""A monitor run over one hour of logged traffic: time and peak memory.

The installation (a SQLite database and a folder artifact store in a temporary directory)
holds a registered ``LogisticRegression`` on ``--features`` numeric inputs (10) with its
reference summary, an endpoint, and ``--rows`` (100,000) logged requests spread over one
hour, written by the request log's own functions (``usina.serving.logfiles.row_groups`` and
``row_file``) as ``--files`` Parquet files (3,600: the writer flushes every second, and 100,000
requests an hour is 28 a second). Three of the features are shifted in the live traffic, and
half the requests have a label. The endpoint answers classes (``predict``), as served models do,
so AUC is computed from them.

The run (``client.monitors.run``: read the hour's rows, summarise inputs and answers against
the reference, compare, join the labels and compute quality and operations, check two
thresholds, store the record) is timed in a fresh process, imports done before the clock
starts; its peak memory is that process's peak resident set (VmHWM). ``--repeat`` runs (3)
each in a fresh process; the median is shown. Goal: under 2 s.

    python benchmarks/monitor.py
    python benchmarks/monitor.py --rows 10000 --files 100 --repeat 1   # a smoke run
    python benchmarks/monitor.py --files 360     # a writer flushing every 10 s
    python benchmarks/monitor.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_S = 2.0
T0 = 1_780_002_400.0  # 2026-05-28 21:06:40 UTC: the hour stays within one day
HOUR = 3600.0
SHIFTED = ("f000", "f004", "f008")


def _status(key: str) -> float:
    """A /proc/self/status figure (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def build(root: Path, rows: int, files: int, features: int) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from usina.client import Client
    from usina.serving.inputs import dumps
    from usina.serving.logfiles import LogRow, file_name, row_file, row_groups

    client = Client(f"sqlite:///{root / 'usina.db'}", str(root / "artifacts"))
    names = [f"f{i:03d}" for i in range(features)]
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.standard_normal((20_000, features)), columns=names)
    model = LogisticRegression().fit(train, train.sum(axis=1) + rng.normal(0, 1, 20_000) > 0)
    client.register_model(model, "credit-risk", input_example=train.head(2), reference=train)
    client.endpoints.create("credit", "models:/credit-risk/1")

    live = rng.standard_normal((rows, features))
    for name in SHIFTED:
        live[:, names.index(name)] += 0.5
    # The endpoint answers predict(): classes (booleans here), as served models do.
    scores = model.predict_proba(pd.DataFrame(live, columns=names))[:, 1]
    answers = scores >= 0.5
    truth = rng.random(rows) < scores
    times = T0 + np.sort(rng.random(rows)) * HOUR
    latency = rng.gamma(2.0, 4.0, rows)
    column_names = tuple(names)
    logged = [
        LogRow(
            f"req-{i:07d}",
            float(times[i]),
            "credit",
            "credit-risk",
            1,
            False,
            "vertex",
            200,
            float(latency[i]),
            (column_names, dumps(live[i : i + 1])),  # as the serving app queues a request
            dumps(answers[i : i + 1]),
            None,
        )
        for i in range(rows)
    ]
    per_file = -(-rows // files)
    for seq, start in enumerate(range(0, rows, per_file)):
        chunk = logged[start : start + per_file]
        for (endpoint, day), indices in row_groups(chunk).items():
            key, data = row_file(chunk, indices, 0.0, endpoint, day, file_name("bench", seq))
            client.artifacts.write(key, data)
    labels = [{"request_id": f"req-{i:07d}", "label": int(truth[i])} for i in range(0, rows, 2)]
    client.labels.ingest("credit", labels, now=T0 + HOUR)
    client.monitors.create(
        {
            "name": "credit-watch",
            "endpoint": "credit",
            "window": "1h",
            "drift_threshold": 0.02,
            "metrics": ["auc>=0.70", "latency_p99<=50ms"],
        },
        now=T0,
    )
    client.close()


def child(root: Path) -> dict[str, Any]:
    """Time one run in this (fresh) process."""
    import duckdb  # noqa: F401 - imported before the clock starts, as a server has them
    import scipy.stats  # noqa: F401
    import sklearn.metrics  # noqa: F401

    from usina.client import Client

    client = Client(f"sqlite:///{root / 'usina.db'}", str(root / "artifacts"))
    client.monitors.get("credit-watch")  # the database is open and migrated
    before = _status("VmRSS")
    start = time.perf_counter()
    run = client.monitors.run("credit-watch", end=T0 + HOUR)
    seconds = time.perf_counter() - start
    (version,) = run.figures["versions"]
    drifted = sorted(f for f, d in version["drift"].items() if d["drifted"] and not d["prediction"])
    return {
        "seconds": seconds,
        "peak_mb": _status("VmHWM"),
        "rss_before_mb": before,
        "status": run.status,
        "requests": version["figures"]["requests"],
        "labelled": version["labelled"],
        "auc": version["figures"].get("auc"),
        "drifted": drifted,
        "drift": {f: round(d["value"], 4) for f, d in version["drift"].items()},
        "breaches": [b["text"] for b in run.breaches],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=3600)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="runs, each in a fresh process")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        build(root, args.rows, args.files, args.features)
        setup = time.perf_counter() - t
        files = len(list((root / "artifacts").rglob("*.parquet")))
        runs = []
        for _ in range(args.repeat):  # each run in a fresh process; each stores its record
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(root)],
                capture_output=True,
                text=True,
                check=True,
                env=os.environ,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    result = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]  # the median run
    result["runs_s"] = [round(r["seconds"], 3) for r in runs]
    result["peaks_mb"] = [round(r["peak_mb"]) for r in runs]
    result.update(rows=args.rows, files=files, features=args.features, setup_s=setup)
    with open("/proc/loadavg") as load:
        result["load_average"] = load.read().split()[0]
    result["python"] = platform.python_version()
    result["cpus"] = os.cpu_count()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"monitor run over {args.rows:,} requests in one hour ({files:,} log files, "
        f"{args.features} features, {result['labelled']:,} labelled)"
    )
    print(
        f"  {result['seconds']:.2f} s, the median of {', '.join(map(str, result['runs_s']))} "
        f"(goal < {GOAL_S:g} s: "
        f"{'met' if result['seconds'] < GOAL_S else 'missed'}), peak memory "
        f"{result['peak_mb']:.0f} MiB ({result['rss_before_mb']:.0f} MiB before the run)"
    )
    print(
        f"  status {result['status']}; drifted {', '.join(result['drifted']) or 'none'} "
        f"(shifted: {', '.join(SHIFTED)}); auc {result['auc']:.3f}"
    )


if __name__ == "__main__":
    main()
