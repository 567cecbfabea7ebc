"""Drift detection speed and memory: usina against Evidently's data drift preset, in one run.

Workload 1 (side by side): a reference and a current table of ``--rows`` rows (200,000) and
``--columns`` float64 columns (50), of which ``--shifted`` (10) have their mean moved by half a
standard deviation in the current table. Both sides build the same tables, column by column
from the same seeds, and are timed from the tables being in memory to the drift result:

  usina      ``summarize(reference)``, ``summarize(current, reference=...)`` and
             ``compare(..., profile="evidently")``: the reference summary is inside the timing,
             although a monitor computes it once, when the model is registered
  evidently  ``Report([DataDriftPreset()]).run(current_data=..., reference_data=...)``
             (Evidently 0.7.23, run from ``--evidently-python``: it needs ``pandas<3``)

Both decide with Evidently's defaults for more than 1,000 reference rows: the normalised
Wasserstein distance, drift at 0.1. usina computes it from its 22 bins per column, Evidently
from the raw values. Each side runs in a fresh process (imports done before the clock starts);
its peak memory is that process's peak resident set (VmHWM), tables included. The script
prints both times, the ratio, both peaks, and whether each side flagged exactly the shifted
columns.

Workload 2 (usina alone): the same on 1,000,000 rows and 100 columns (20 shifted).

    make bench-drift-env      # .venv-evidently with evidently==0.7.23 and pandas<3
    python benchmarks/drift.py --evidently-python .venv-evidently/bin/python
    python benchmarks/drift.py --rows 20000 --large-rows 100000   # a smoke run
    python benchmarks/drift.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SPEED_GOAL = 30.0  # usina at least 30x faster than Evidently on workload 1
LARGE_SECONDS_GOAL = 10.0
LARGE_MEMORY_GOAL_MB = 2048.0
SHIFT = 0.5  # in standard deviations
ROOT = Path(__file__).resolve().parents[1]


def _status(key: str) -> float:
    """A /proc/self/status figure (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def shifted_columns(columns: int, shifted: int) -> list[str]:
    """Which columns the current table shifts: spread evenly over the table."""
    step = columns // shifted
    return [f"f{i:03d}" for i in range(0, step * shifted, step)]


def tables(rows: int, columns: int, shifted: int) -> tuple[Any, Any]:
    """The reference and current tables, one float64 column at a time, each from its own seed,
    so both processes build the very same values."""
    import numpy as np
    import pandas as pd

    moved = set(shifted_columns(columns, shifted))

    def build(side: int) -> Any:
        data = {}
        for i in range(columns):
            name = f"f{i:03d}"
            values = np.random.default_rng([side, i]).standard_normal(rows)
            if side == 1 and name in moved:
                values += SHIFT
            data[name] = values
        return pd.DataFrame(data, copy=False)

    return build(0), build(1)


def side_usina(reference: Any, current: Any) -> list[str]:
    from usina.monitoring import compare, summarize

    ref = summarize(reference)
    cur = summarize(current, reference=ref)
    return compare(ref, cur, profile="evidently").drifted


def side_evidently(reference: Any, current: Any) -> list[str]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    drifted = []
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        value, threshold = metric["value"], config["threshold"]
        is_p_value = "p_value" in config["method"]
        if (value < threshold) if is_p_value else (value >= threshold):
            drifted.append(config["column"])
    return drifted


def worker(args: argparse.Namespace) -> None:
    """One side, in this fresh process: build the tables, warm the imports, time the check."""
    if args.side == "usina":
        import scipy.spatial.distance
        import scipy.stats  # noqa: F401  (evidently imports scipy at import time too)

        import usina.monitoring  # noqa: F401

        run = side_usina
    else:
        import evidently.presets  # noqa: F401

        run = side_evidently
    reference, current = tables(args.rows, args.columns, args.shifted)
    data_mb = _status("VmRSS")
    start = time.perf_counter()
    drifted = run(reference, current)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": _status("VmHWM"),
                "data_mb": data_mb,
                "drifted": sorted(drifted),
            }
        )
    )


def measure(python: str, side: str, rows: int, columns: int, shifted: int) -> dict[str, Any]:
    env = dict(os.environ)
    if side == "usina":
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])
        )
    command = [python, __file__, "--side", side, "--rows", str(rows)]
    command += ["--columns", str(columns), "--shifted", str(shifted)]
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the {side} side failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_mb": max(r["peak_mb"] for r in runs),
        "data_mb": max(r["data_mb"] for r in runs),
        "drifted": runs[0]["drifted"],
        "every_seconds": [r["seconds"] for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evidently-python", help="a Python with evidently==0.7.23 installed")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--columns", type=int, default=50)
    parser.add_argument("--shifted", type=int, default=10)
    parser.add_argument("--large-rows", type=int, default=1_000_000)
    parser.add_argument("--large-columns", type=int, default=100)
    parser.add_argument("--large-shifted", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="usina runs per workload")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--side", choices=["usina", "evidently"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        worker(args)
        return

    load = os.getloadavg()[0]
    print(
        f"drift benchmark on {platform.machine()}, {os.cpu_count()} CPUs, load {load:.2f}",
        flush=True,
    )
    truth = shifted_columns(args.columns, args.shifted)
    shape = (args.rows, args.columns, args.shifted)
    usina = median_of([measure(sys.executable, "usina", *shape) for _ in range(args.repeat)])
    results: dict[str, Any] = {"load_average": load, "workload_1": {"usina": usina}}
    evidently = None
    if args.evidently_python:
        evidently = measure(args.evidently_python, "evidently", *shape)
        results["workload_1"]["evidently"] = evidently
    large_shape = (args.large_rows, args.large_columns, args.large_shifted)
    large = median_of([measure(sys.executable, "usina", *large_shape) for _ in range(args.repeat)])
    results["workload_2"] = {"usina": large}
    large_truth = shifted_columns(args.large_columns, args.large_shifted)

    if args.json:
        print(json.dumps(results, indent=2))
        return
    rows, columns, shifted = shape
    print(f"\nWorkload 1: {rows:,} rows x {columns} columns ({shifted} shifted), both sides")
    print(f"{'':12}{'seconds':>10}{'peak MB':>10}{'data MB':>10}  flagged the shifted columns")
    sides = [("usina", usina)] + ([("evidently", evidently)] if evidently else [])
    for name, r in sides:
        match = "yes" if r["drifted"] == truth else f"no: {r['drifted']}"
        print(f"{name:12}{r['seconds']:10.2f}{r['peak_mb']:10.0f}{r['data_mb']:10.0f}  {match}")
    if evidently:
        ratio = evidently["seconds"] / usina["seconds"]
        verdict = "met" if ratio >= SPEED_GOAL else "NOT met"
        print(f"usina is {ratio:.1f}x faster (goal {SPEED_GOAL:.0f}x: {verdict})")
        print(
            f"peak memory: usina {usina['peak_mb']:.0f} MB, Evidently "
            f"{evidently['peak_mb']:.0f} MB ({evidently['peak_mb'] / usina['peak_mb']:.1f}x)"
        )
        agree = "yes" if usina["drifted"] == evidently["drifted"] else "no"
        print(f"both sides flag the same columns: {agree}")
    else:
        print("Evidently skipped: pass --evidently-python PATH (make bench-drift-env makes one)")
    rows, columns, shifted = large_shape
    ok = large["seconds"] < LARGE_SECONDS_GOAL and large["peak_mb"] < LARGE_MEMORY_GOAL_MB
    print(f"\nWorkload 2: {rows:,} rows x {columns} columns ({shifted} shifted), usina alone")
    print(
        f"usina {large['seconds']:.2f} s, peak {large['peak_mb']:.0f} MB "
        f"(tables alone {large['data_mb']:.0f} MB); goal < {LARGE_SECONDS_GOAL:.0f} s and "
        f"< {LARGE_MEMORY_GOAL_MB:.0f} MB: {'met' if ok else 'NOT met'}; flagged the shifted "
        f"columns: {'yes' if large['drifted'] == large_truth else 'no'}"
    )
    each = [[round(s, 2) for s in r["every_seconds"]] for r in (usina, large)]
    print(f"every usina run (s): workload 1 {each[0]}, workload 2 {each[1]}")


if __name__ == "__main__":
    main()
