"""Pipeline overhead: usina's local runner against kfp.local, side by side in one run.

What it measures: a chain of 20 trivial steps (each adds one to an integer), so the time is
all orchestration. Each side runs the same chain:

1. usina, executed:  ``LocalRunner.run(chain, cache=False)``: every step forked, tracked as a
                     run, its output stored and its step run recorded in SQLite.
2. usina, cached:    the same chain again with caching on, after one run that filled the
                     cache: every step is looked up and reused, none executes.
3. kfp.local:        the same chain as KFP lightweight components, run by
                     ``kfp.local.SubprocessRunner(use_venv=False)`` with
                     ``packages_to_install=[]``, its fastest configuration (no pip check).

Per-step overhead is the run's wall time divided by 20; the figure shown is the median over
``--repeat`` runs (usina and kfp.local take turns so both see the same load). The process is
warmed up first (one untimed run on each side).

Run it with the ``kfp`` extra installed:

    python benchmarks/pipelines.py              # 5 repeats
    python benchmarks/pipelines.py --quick      # a smoke run: one repetition
    python benchmarks/pipelines.py --json
"""

# No `from __future__ import annotations`: kfp reads the components' annotations as types.

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
from pathlib import Path
from typing import Any

import usina

STEPS = 20
GOALS = {"usina executed ms/step": 20.0, "usina cached ms/step": 5.0, "kfp.local / usina": 5.0}


@usina.step
def inc(x: int) -> int:
    return x + 1


@usina.pipeline
def chain(start: int = 0):
    value = inc(start)
    for _ in range(STEPS - 1):
        value = inc(value)


def kfp_chain() -> Any:
    from kfp import dsl

    @dsl.component(base_image="python:3.11", packages_to_install=[])
    def kinc(x: int) -> int:
        return x + 1

    @dsl.pipeline(name="chain")
    def kchain(start: int = 0) -> int:
        task = kinc(x=start)
        for _ in range(STEPS - 1):
            task = kinc(x=task.output)
        return task.output

    return kchain


def time_usina(client: Any, *, cache: bool) -> float:
    start = time.perf_counter()
    run = chain.run(client, cache=cache)
    elapsed = time.perf_counter() - start
    assert run.ok and run.output(f"inc-{STEPS}").value == STEPS, run
    statuses = {s.status.value for s in run.steps}
    assert statuses == ({"cached"} if cache else {"done"}), statuses
    return elapsed


def time_kfp(pipeline: Any) -> float:
    sink = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        result = pipeline(start=0)
    elapsed = time.perf_counter() - start
    assert result.output == STEPS, result.output
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per side")
    parser.add_argument("--quick", action="store_true", help="a smoke run: one repetition")
    parser.add_argument("--no-kfp", action="store_true", help="measure usina only")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    if args.quick:
        args.repeat = 1

    with tempfile.TemporaryDirectory(prefix="usina-bench-") as tmp:
        client = usina.Client(f"sqlite:///{Path(tmp) / 'usina.db'}", str(Path(tmp) / "artifacts"))
        kfp_pipeline = None
        if not args.no_kfp:
            from kfp import local

            logging.getLogger("kfp").setLevel(logging.ERROR)
            local.init(
                runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(Path(tmp) / "kfp")
            )
            kfp_pipeline = kfp_chain()
        # Warm-up, excluded: imports, schema migration, the first fork; fills the cache too.
        time_usina(client, cache=False)
        time_usina(client, cache=True)
        if kfp_pipeline is not None:
            time_kfp(kfp_pipeline)
        executed, cached, kfp = [], [], []
        for _ in range(args.repeat):
            executed.append(time_usina(client, cache=False))
            cached.append(time_usina(client, cache=True))
            if kfp_pipeline is not None:
                kfp.append(time_kfp(kfp_pipeline))
        client.close()

    def per_step_ms(values: list[float]) -> float:
        return statistics.median(values) / STEPS * 1000

    figures: dict[str, float] = {
        "usina executed ms/step": per_step_ms(executed),
        "usina cached ms/step": per_step_ms(cached),
    }
    if kfp:
        figures["kfp.local ms/step"] = per_step_ms(kfp)
        figures["kfp.local / usina"] = (
            figures["kfp.local ms/step"] / figures["usina executed ms/step"]
        )
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"
    if args.json:
        print(
            json.dumps(
                {"steps": STEPS, "repeat": args.repeat, "machine": machine, "figures": figures},
                indent=2,
            )
        )
        return
    print(f"pipelines: a chain of {STEPS} trivial steps, median of {args.repeat} runs ({machine})")
    for name, value in figures.items():
        goal = GOALS.get(name)
        if goal is None:
            print(f"  {name:<26} {value:8.1f}")
            continue
        ok = value >= goal if name.endswith("/ usina") else value <= goal
        bound = f">= {goal:g}x" if name.endswith("/ usina") else f"<= {goal:g}"
        print(f"  {name:<26} {value:8.1f}   goal {bound}: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
