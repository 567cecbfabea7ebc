"""Online serving speed: one scikit-learn model, one load generator, every server in one run.

For a one-row GradientBoostingClassifier (100 trees, 8 numeric inputs), each server compared
with the one that predicts the same way:

  bare             a Starlette handler on uvicorn calling ``model.predict`` (orjson in and out)
  usina predict()  ``usina serve`` with ``USINA_SERVE_FAST_PREDICT=false``: also ``predict``
  bare+fast        the bare handler calling usina's fast predictor, built once by the function
                   ``usina serve`` uses (``usina.serving.fastpath.compile_predictor``)
  usina            ``usina serve`` as shipped: fast predictor, signature checks, Prometheus
                   metrics, every request in the request log; its predict routes skip
                   Starlette's middleware and router, which the bare handlers go through
  usina -log       the same process through a second endpoint with log sampling 0
  mlflow           ``mlflow models serve --env-manager local -w 1`` from ``--mlflow-python``
  in-process       ``model.predict`` and the fast predictor called in this process, no server

Every server has one worker on 127.0.0.1 and is driven by wrk with the same JSON row; the
bare servers and usina use the same uvicorn parser (``--http``, default httptools) and the
asyncio loop. Each round drives every server at concurrency 1 (``-t1 -c1``), then every
server at 32 (``-t2 -c32``); servers compared with each other run back to back, their order
reversed every other round and the order of the groups rotating. The best of ``--repeat``
rounds is kept per server.

Each overhead and ratio goal is computed from its like-for-like pair only: usina against
bare+fast, usina predict() against bare. Because this kind of machine drifts by 15-20% within
minutes, the throughput goals at c=32 are also given as paired medians: ``--pairs`` rounds of
the two servers back to back in alternating order, the median of their ratios. Small effects
are measured that way only: the request log's cost is the median over ``--pairs`` rounds of
1 - (log on) / (log off), beside the serving process's and the log writer's CPU time per
request (from /proc). ``--compare-http`` pairs usina's two HTTP parsers the same way.

Runs one after the other, paired or not, still differ by what the host did in between. So the
two c=32 throughput goals are measured a third way, head to head: both servers of a pair at
the same time on CPU 0 (every thread of their process trees), each driven at c=32 by its own
wrk on CPU 1, for ``--pairs`` rounds. A slow moment of the host slows both alike, and the
ratio of requests answered per CPU second (each side charged for all of its process tree,
usina's log writer included) spreads over a few points across rounds where the others spread
over tens of points. The ratio of requests per second, where the scheduler shares the core
between the two (usina's log writer, a process of its own, gets its own share), is printed
beside it. The request log's cost is measured head to head as well, between two processes
of the same usina, and both ways round: every other round the two swap endpoints (the one
that logged answers through the unlogged endpoint and the other way round), because two
processes of the same code can differ by a couple of points on their own; the figure is the
geometric mean of the two halves' medians.
``--pin`` runs every server on CPU 0 and wrk on CPU 1 for the other measurements too.

What skipping Starlette's middleware and router is worth is printed on its own line: their
cost a request, timed in process with a no-op endpoint, and each head-to-head ratio per CPU
second as it would be had usina's predict requests paid it too.

    python benchmarks/serving.py --mlflow-python /work/mlflow-venv/bin/python --repeat 5
    python benchmarks/serving.py --duration 2 --repeat 1 --pairs 2     # a smoke run
    python benchmarks/serving.py --compare-http --json
    python benchmarks/serving.py --pin                                 # servers on CPU 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import serving_servers as servers
from serving_servers import Run, Target, cpu_seconds, wrk

RATIO_GOAL = 0.90  # the throughput goal, also checked as a paired median at c=32
GOALS = [
    # (name, pair of (server, like-for-like server), measure, goal, higher is better)
    ("usina / bare+fast throughput", ("usina", "bare+fast"), "ratio", RATIO_GOAL, True),
    ("usina predict() / bare throughput", ("usina predict()", "bare"), "ratio", RATIO_GOAL, True),
    ("usina p50 overhead over bare+fast (ms)", ("usina", "bare+fast"), "p50", 0.5, False),
    ("usina p99 overhead over bare+fast (ms)", ("usina", "bare+fast"), "p99", 2.0, False),
    ("usina predict() p50 overhead over bare (ms)", ("usina predict()", "bare"), "p50", 0.5, False),
    ("usina predict() p99 overhead over bare (ms)", ("usina predict()", "bare"), "p99", 2.0, False),
    ("usina / mlflow throughput (fast predictor)", ("usina", "mlflow"), "ratio", 10.0, True),
]
LOG_COST_GOAL = 0.05


@dataclass(frozen=True)
class Measure:
    """One server at one concurrency: its best round."""

    server: str
    concurrency: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us_per_request: float | None = None


def in_process(model: Any, n: int) -> list[Measure]:
    import numpy as np

    row = np.array([[servers.ROW[c] for c in servers.COLUMNS]], dtype=np.float64)
    found = []
    for name, predict in (
        ("in-process", model.predict),
        ("in-process fast", servers.fast_predictor(model)),
    ):
        for _ in range(200):
            predict(row)
        times = []
        for _ in range(n):
            start = time.perf_counter()
            predict(row)
            times.append(time.perf_counter() - start)
        times.sort()
        p50, p99 = times[n // 2] * 1000, times[int(n * 0.99)] * 1000
        found.append(Measure(name, 1, n / sum(times), p50, p99, 0))
        print(f"  {name:<16} c=1   p50 {p50:7.3f} ms  p99 {p99:7.3f} ms", file=sys.stderr)
    return found


def starlette_stack_us(n: int = 50_000) -> float:
    """What Starlette's middleware and router add to one request, in microseconds: a no-op
    endpoint sending a two-message answer, called through a one-route Starlette app and
    directly. The bare servers' requests go that way; usina's predict requests skip it
    (``usina.serving.app.ServingApp``), so this is reported on its own line."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.routing import Route

    start = {"type": "http.response.start", "status": 200, "headers": []}
    body = {"type": "http.response.body", "body": b"{}"}

    class Endpoint:
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await send(start)
            await send(body)

    async def sent(message: Any) -> None:
        return None

    endpoint = Endpoint()
    app = Starlette(routes=[Route("/v1/endpoints/{name}:predict", endpoint, methods=["POST"])])
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/endpoints/bench:predict",
        "root_path": "",
        "headers": [],
        "query_string": b"",
    }

    async def per_call(target: Any) -> float:
        for _ in range(1000):
            await target(dict(scope), None, sent)
        began = time.perf_counter()
        for _ in range(n):
            await target(dict(scope), None, sent)
        return (time.perf_counter() - began) / n * 1e6

    async def both() -> float:
        through = min([await per_call(app) for _ in range(3)])
        direct = min([await per_call(endpoint) for _ in range(3)])
        return through - direct

    cost = asyncio.run(both())
    print(f"  Starlette's middleware and router: {cost:.1f} µs a request", file=sys.stderr)
    return cost


# Servers compared with each other run back to back at each concurrency, so a drift of the
# host between two of their runs is as short as one run.
GROUPS = [("bare", "usina predict()"), ("bare+fast", "usina", "usina -log")]


def best_of(targets: list[Target], args: argparse.Namespace, workdir: Path) -> list[Measure]:
    """Rounds in which every server is driven at c=1, then every server at c=32; each
    like-for-like group runs back to back, its order reversed every other round and the order
    of the groups rotating. The best round of each (server, concurrency) by throughput is
    kept, with its median CPU time per request."""
    named = {t.name: t for t in targets}
    groups = [[named[n] for n in group if n in named] for group in GROUPS]
    grouped = {t.name for group in groups for t in group}
    groups += [[t] for t in targets if t.name not in grouped]
    runs: dict[tuple[str, int], list[Run]] = {}
    cpus: dict[tuple[str, int], list[float]] = {}
    for round_ in range(args.repeat):
        shift = round_ % len(groups)
        order = groups[shift:] + groups[:shift]
        for concurrency in (1, 32):
            for group in order:
                for t in group if round_ % 2 == 0 else group[::-1]:
                    before = servers.tree_cpu_seconds(t.process.pid)
                    run = wrk(t, concurrency, args.duration, workdir)
                    cpu = 1e6 * (servers.tree_cpu_seconds(t.process.pid) - before) / run.requests
                    runs.setdefault((t.name, concurrency), []).append(run)
                    cpus.setdefault((t.name, concurrency), []).append(cpu)
                    print(
                        f"  round {round_ + 1} {t.name:<16} c={concurrency:<3} {run.rate:8.0f} "
                        f"req/s  p50 {run.p50_ms:7.2f} ms  p99 {run.p99_ms:7.2f} ms"
                        + (f"  {run.errors} errors" if run.errors else ""),
                        file=sys.stderr,
                    )
    found = []
    for (name, concurrency), results in runs.items():
        best = max(results, key=lambda r: r.rate)
        errors = sum(r.errors for r in results)
        cpu = statistics.median(cpus[(name, concurrency)])
        found.append(Measure(name, concurrency, best.rate, best.p50_ms, best.p99_ms, errors, cpu))
    return found


def paired(
    a: Target,
    b: Target,
    concurrency: int,
    args: argparse.Namespace,
    workdir: Path,
    logged: tuple[str, ...],
) -> dict[str, Any]:
    """``--pairs`` rounds of ``a`` and ``b`` back to back, alternating which goes first; the
    spread of b/a, and the CPU time per request of each side's server process and, for the
    sides named in ``logged``, of the request log writer per row.

    After a logged run, the next waits until its server has written that run's rows (its
    /metrics say so), so every run starts with an idle writer; the writer's CPU per row counts
    all of its work, the part after the run included."""
    writers = {
        t.name: servers.writer_pid(t.process.pid) if t.name in logged else None for t in (a, b)
    }
    ratios, cpu = [], {a.name: [0.0, 0], b.name: [0.0, 0]}
    writer_cpu = {a.name: [0.0, 0], b.name: [0.0, 0]}
    for t in (a, b):
        if writers[t.name]:
            servers.wait_log_written(t)
    for round_ in range(args.pairs):
        runs = {}
        for t in (a, b) if round_ % 2 == 0 else (b, a):
            pid, writer = t.process.pid, writers[t.name]
            before = cpu_seconds(pid), (cpu_seconds(writer) if writer else 0.0)
            runs[t.name] = run = wrk(t, concurrency, args.pair_duration, workdir)
            cpu[t.name][0] += cpu_seconds(pid) - before[0]
            cpu[t.name][1] += run.requests
            if writer:
                servers.wait_log_written(t)
                writer_cpu[t.name][0] += cpu_seconds(writer) - before[1]
                writer_cpu[t.name][1] += run.requests
        ratios.append(runs[b.name].rate / runs[a.name].rate)
        print(
            f"  pair {round_ + 1} c={concurrency:<3} {a.name} {runs[a.name].rate:6.0f}  "
            f"{b.name} {runs[b.name].rate:6.0f}  ratio {ratios[-1]:.3f}",
            file=sys.stderr,
        )
    q = (
        statistics.quantiles(ratios, n=4, method="inclusive")
        if len(ratios) > 1
        else [ratios[0]] * 3
    )
    return {
        "a": a.name,
        "b": b.name,
        "concurrency": concurrency,
        "rounds": len(ratios),
        "ratios": ratios,
        "median": statistics.median(ratios),
        "min": min(ratios),
        "max": max(ratios),
        "q1": q[0],
        "q3": q[2],
        "server_cpu_us_per_request": {k: 1e6 * s / n for k, (s, n) in cpu.items() if n},
        "writer_cpu_us_per_row": {k: 1e6 * s / n for k, (s, n) in writer_cpu.items() if n},
    }


def head_to_head(
    a: Target,
    b: Target,
    concurrency: int,
    args: argparse.Namespace,
    workdir: Path,
    swapped: tuple[Target, Target] | None = None,
) -> dict[str, Any]:
    """``--pairs`` rounds of ``a`` and ``b`` driven at the same time, both on CPU 0 (every
    thread of their process trees) and their two wrk processes on CPU 1; the spread of b/a in
    requests per second and in requests per CPU second of each process tree.

    Whatever slows the host in a round slows both sides alike, so the ratio is steady where
    runs one after the other are not. Requests per CPU second charge each side for all of its
    work, usina's log writer included; requests per second let the scheduler share the core
    (a second process, such as the log writer, gets its own share).

    ``swapped`` is ``a`` and ``b`` served by each other's process (the request log's cost:
    the unlogged endpoint of ``b``'s process, the logged one of ``a``'s). Every other round
    drives those instead, so a process's own speed counts for one side in half the rounds
    and for the other in the rest; the figure is then the geometric mean of the two halves'
    medians, and ``offset`` says how far the two processes differed.

    usina's log writer writes a round's rows up to a flush interval plus a file interval after
    them, in a later round. So a round charges each side the CPU of its process tree without
    the writer, plus, for the rows it logged, the writer's CPU per row over all the rounds:
    from a moment when it had written every earlier row to one when it had written these."""
    first = (a, b)
    everyone = {t.name: t for t in (*first, *(swapped or ()))}
    processes = {t.process.pid: t for t in everyone.values()}
    writers = {pid: servers.writer_pid(pid) for pid in processes}
    pids = [servers.process_tree(t.process.pid) for t in (a, b)]
    saved = {pid: os.sched_getaffinity(pid) for tree in pids for pid in tree}
    rates: list[float] = []
    rounds: list[dict[str, tuple[int, float, int]]] = []  # name: requests, CPU, pid
    rows = dict.fromkeys(writers, 0)
    for t in everyone.values():
        if servers.logs(t) and writers[t.process.pid]:
            servers.wait_log_written(t)
    writer_start = {pid: cpu_seconds(w) for pid, w in writers.items() if w}
    try:
        for tree in pids:
            servers.set_affinity(tree, {0})
        for round_ in range(args.pairs):
            a, b = first if round_ % 2 == 0 or swapped is None else swapped
            turn = round_ // 2 if swapped is not None else round_  # who starts first
            pair = (a, b) if turn % 2 == 0 else (b, a)
            before = {t.name: _own_cpu(t, writers) for t in pair}
            with ThreadPoolExecutor(2) as pool:
                futures = {
                    t.name: pool.submit(
                        wrk, t, concurrency, args.pair_duration, workdir / f"h2h-{i}", "1"
                    )
                    for i, t in enumerate(pair)
                }
                runs = {name: f.result() for name, f in futures.items()}
            rounds.append(
                {
                    t.name: (
                        runs[t.name].requests,
                        _own_cpu(t, writers) - before[t.name],
                        t.process.pid,
                    )
                    for t in pair
                }
            )
            for t in pair:
                if servers.logs(t):
                    rows[t.process.pid] += runs[t.name].requests
            rates.append(runs[b.name].rate / runs[a.name].rate)
            print(
                f"  head to head {round_ + 1} c={concurrency:<3} {a.name} "
                f"{runs[a.name].rate:6.0f} req/s  {b.name} {runs[b.name].rate:6.0f} req/s  "
                f"ratio {rates[-1]:.3f}",
                file=sys.stderr,
            )
    finally:
        for pid, cpus in saved.items():
            servers.set_affinity([pid], cpus)
    writer_us = {}  # each process's log writer, CPU a row over the rounds
    for pid in processes:
        writer = writers[pid]
        if writer and rows[pid]:
            logging = next(s for s in everyone.values() if s.process.pid == pid and servers.logs(s))
            servers.wait_log_written(logging)
            writer_us[pid] = 1e6 * (cpu_seconds(writer) - writer_start[pid]) / rows[pid]
    per_cpu = []
    cpu_us: dict[str, list[float]] = {}
    for i, sides in enumerate(rounds):
        a, b = first if i % 2 == 0 or swapped is None else swapped
        charged = {}
        for name, (requests, own, pid) in sides.items():
            logged = requests if servers.logs(everyone[name]) else 0
            charged[name] = 1e6 * own / requests + (writer_us.get(pid, 0.0) if logged else 0.0)
            cpu_us.setdefault(name, []).append(charged[name])
        per_cpu.append(charged[a.name] / charged[b.name])
    a, b = first
    result = {
        "a": a.name,
        "b": b.name,
        "concurrency": concurrency,
        "rounds": len(rates),
        "rate": spread(rates),
        "per_cpu": spread(per_cpu),
        "cpu_us_per_request": {name: statistics.median(us) for name, us in cpu_us.items()},
        "writer_cpu_us_per_row": {
            next(t.name for t in everyone.values() if t.process.pid == pid and servers.logs(t)): us
            for pid, us in writer_us.items()
        },
        "swapped": swapped is not None,
    }
    if swapped is not None and len(rates) >= 2:
        for measure, values in (("rate", rates), ("per_cpu", per_cpu)):
            one, other = statistics.median(values[0::2]), statistics.median(values[1::2])
            result[measure]["median"] = (one * other) ** 0.5
            result[measure]["offset"] = (one / other) ** 0.5
    return result


def _own_cpu(target: Target, writers: dict[int, int | None]) -> float:
    """CPU time so far of the process tree of ``target``'s server, less its log writer's."""
    pid = target.process.pid
    writer = writers.get(pid)
    return servers.tree_cpu_seconds(pid) - (cpu_seconds(writer) if writer else 0.0)


def spread(values: list[float]) -> dict[str, Any]:
    """The median, quartiles and range of ``values``."""
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {
        "values": values,
        "median": statistics.median(values),
        "q1": q[0],
        "q3": q[2],
        "min": min(values),
        "max": max(values),
    }


def goal_rows(measures: list[Measure]) -> list[dict[str, Any]]:
    by = {(m.server, m.concurrency): m for m in measures}
    rows = []
    for name, (mine, peer), kind, goal, higher in GOALS:
        for c in (1, 32) if kind == "ratio" else (1,):
            m, p = by.get((mine, c)), by.get((peer, c))
            value = None
            if m and p:
                value = {
                    "ratio": m.requests_per_s / p.requests_per_s,
                    "p50": m.p50_ms - p.p50_ms,
                    "p99": m.p99_ms - p.p99_ms,
                }[kind]
            met = None if value is None else (value >= goal if higher else value <= goal)
            rows.append({"goal": f"{name} (c={c})", "value": value, "target": goal, "met": met})
    return rows


def info_rows(
    measures: list[Measure], stack_us: float, h2h: list[dict[str, Any]]
) -> dict[str, float]:
    """Figures beside the goals: what the fast predictor is worth, overheads over the
    in-process calls, and what skipping Starlette's router is worth to usina's ratios."""
    by = {(m.server, m.concurrency): m for m in measures}
    out = {"Starlette's middleware and router (µs a request, in process)": stack_us}
    for p in h2h:
        if p["a"] == servers.OWN_PROCESS or p["b"] not in p["cpu_us_per_request"]:
            continue
        # The per-CPU ratio had usina's predict requests also gone through Starlette's layers.
        mine = p["cpu_us_per_request"][p["b"]]
        name = f"{p['b']} / {p['a']} per CPU second, via Starlette's router"
        out[f"{name} (c={p['concurrency']})"] = p["per_cpu"]["median"] * mine / (mine + stack_us)
    for c in (1, 32):
        for mine, peer in (("usina predict()", "mlflow"), ("bare", "mlflow"), ("usina", "bare")):
            if (m := by.get((mine, c))) and (p := by.get((peer, c))):
                out[f"{mine} / {peer} throughput (c={c})"] = m.requests_per_s / p.requests_per_s
    for mine, peer in (
        ("usina", "in-process fast"),
        ("bare+fast", "in-process fast"),
        ("usina predict()", "in-process"),
        ("bare", "in-process"),
    ):
        if (m := by.get((mine, 1))) and (p := by.get((peer, 1))):
            out[f"{mine} p50 overhead over {peer} (ms, c=1)"] = m.p50_ms - p.p50_ms
            out[f"{mine} p99 overhead over {peer} (ms, c=1)"] = m.p99_ms - p.p99_ms
    return out


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"\nOnline serving, one-row GradientBoostingClassifier; Python {result['python']}, "
        f"{os.cpu_count()} CPUs, uvicorn parser {args.http}; {result['note']}; best of "
        f"{args.repeat} rounds of {args.duration:g} s; "
        + ("servers on CPU 0, wrk on CPU 1; " if args.pin else "")
        + f"load average {result['load_start']} "
        f"at start, {result['load_end']} at end\n"
    )
    print(
        f"{'server':<16} {'c':>3} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'CPU µs/req':>11}"
    )
    for m in result["measures"]:
        cpu = m["cpu_us_per_request"]
        print(
            f"{m['server']:<16} {m['concurrency']:>3} {m['requests_per_s']:>9.0f} "
            f"{m['p50_ms']:>8.3f} {m['p99_ms']:>8.3f} {m['errors']:>7} "
            + (f"{cpu:>11.0f}" if cpu is not None else f"{'':>11}")
        )
    print("(CPU: the server's process tree, log writer included; median over the rounds)")
    print(f"\n{'goal (like for like)':<58} {'value':>8} {'target':>7}  met")
    for g in result["goals"]:
        value = "n/a" if g["value"] is None else f"{g['value']:.3f}"
        met = {True: "yes", False: "NO", None: "n/a"}[g["met"]]
        print(f"{g['goal']:<58} {value:>8} {g['target']:>7g}  {met}")
    for p in result["like_pairs"]:
        name = f"{p['b']} / {p['a']} throughput, paired median (c={p['concurrency']})"
        met = "yes" if p["median"] >= RATIO_GOAL else "NO"
        print(f"{name:<58} {p['median']:>8.3f} {RATIO_GOAL:>7g}  {met}")
    for p in result["head_to_head"]:
        for measure, label in (("per_cpu", "per CPU second"), ("rate", "req/s")):
            median = p[measure]["median"]
            if p["a"] == servers.OWN_PROCESS:
                name = f"request log cost, head to head, {label} (c={p['concurrency']})"
                met = "yes" if 1 - median <= LOG_COST_GOAL else "NO"
                print(f"{name:<58} {1 - median:>8.3f} {LOG_COST_GOAL:>7g}  {met}")
                continue
            name = f"{p['b']} / {p['a']} head to head, {label} (c={p['concurrency']})"
            met = "yes" if median >= RATIO_GOAL else "NO"
            print(f"{name:<58} {median:>8.3f} {RATIO_GOAL:>7g}  {met}")
    for p in result["log_cost"]:
        cost = 1 - p["median"]
        print(
            f"{'request log cost, paired median (c=' + str(p['concurrency']) + ')':<58} "
            f"{cost:>8.3f} {LOG_COST_GOAL:>7g}  {'yes' if cost <= LOG_COST_GOAL else 'NO'}"
        )
    print()
    width = max([58, *map(len, result["info"])])
    for name, value in result["info"].items():
        print(f"{name:<{width}} {value:>8.3f}")
    pairs = [(p, False) for p in result["like_pairs"]]
    pairs += [(p, True) for p in result["log_cost"]] + [(p, False) for p in result["http_pairs"]]
    for p, is_cost in pairs:
        kind = "request log cost" if is_cost else f"{p['b']} / {p['a']} throughput"

        def shown(r: float, is_cost: bool = is_cost) -> float:
            return 1 - r if is_cost else r

        print(
            f"\n{kind}, c={p['concurrency']}, {p['rounds']} paired rounds of "
            f"{args.pair_duration:g} s: median {shown(p['median']):.3f}, "
            f"range {min(shown(p['min']), shown(p['max'])):.3f} to "
            f"{max(shown(p['min']), shown(p['max'])):.3f}, IQR "
            f"{min(shown(p['q1']), shown(p['q3'])):.3f} to "
            f"{max(shown(p['q1']), shown(p['q3'])):.3f}"
        )
        for who, us in p["server_cpu_us_per_request"].items():
            print(f"  {who}: server process CPU {us:.0f} µs/request")
        for who, us in p["writer_cpu_us_per_row"].items():
            print(f"  {who}: log writer CPU {us:.1f} µs/row")
    for p in result["head_to_head"]:
        print(
            f"\n{p['b']} / {p['a']} head to head on one core, c={p['concurrency']}, "
            f"{p['rounds']} rounds of {args.pair_duration:g} s:"
        )
        if p.get("swapped"):
            print(
                "  (the two processes swapped endpoints every other round: the figure is the "
                "geometric mean of the two halves' medians; offset: the first process's speed "
                "over the second's)"
            )
        for measure, label in (("per_cpu", "per CPU second"), ("rate", "requests per second")):
            m = p[measure]
            print(
                f"  {label}: {'both ways' if p.get('swapped') else 'median'} {m['median']:.3f}"
                f", range {m['min']:.3f} to {m['max']:.3f}, IQR {m['q1']:.3f} to {m['q3']:.3f}"
                + (f", offset {m['offset']:.3f}" if "offset" in m else "")
            )
        for who, us in p["cpu_us_per_request"].items():
            print(f"  {who}: CPU {us:.0f} µs/request (median over its rounds)")
        for who, us in p["writer_cpu_us_per_row"].items():
            print(f"  {who}: log writer CPU {us:.1f} µs/row, charged to the rounds that logged")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds per measurement.")
    parser.add_argument(
        "--repeat", type=int, default=5, help="Rounds over all servers; each keeps its best."
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=10,
        help="Rounds of each paired and head-to-head measurement.",
    )
    parser.add_argument(
        "--pair-duration", type=float, default=None, help="Seconds per paired run (default 5)."
    )
    parser.add_argument(
        "--http",
        choices=["httptools", "h11"],
        default="httptools",
        help="uvicorn's HTTP parser for usina (USINA_SERVE_HTTP) and the bare servers.",
    )
    parser.add_argument(
        "--compare-http",
        action="store_true",
        help="Also pair usina with the other parser at c=1 and c=32.",
    )
    parser.add_argument(
        "--mlflow-python",
        default=os.environ.get("USINA_BENCH_MLFLOW_PYTHON"),
        help="Python of a virtualenv with mlflow (for 'mlflow models serve').",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="Run every server (and its log writer) on CPU 0 and wrk on CPU 1, so the sides "
        "do not differ by where the scheduler puts them.",
    )
    parser.add_argument("--json", action="store_true", help="Print results as JSON.")
    args = parser.parse_args()
    if args.pin:
        if (os.cpu_count() or 1) < 2:
            sys.exit("--pin needs two CPUs")
        servers.SERVER_CPUS, servers.WRK_CPUS = "0", "1"
    if args.pair_duration is None:
        args.pair_duration = min(5.0, args.duration)
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    load_start = servers.load_average()
    print(f"load average at start: {load_start}", file=sys.stderr)
    model = servers.train()
    other = ("h11" if args.http == "httptools" else "httptools") if args.compare_http else None
    targets: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="usina-bench-serving-") as tmp:
        workdir = Path(tmp)
        measures = in_process(model, 5000)
        stack_us = starlette_stack_us()
        try:
            targets.append(servers.start_bare(model, workdir, False, args.http))
            targets.append(servers.start_bare(model, workdir, True, args.http))
            targets += servers.start_usina(model, workdir, args.http, other)
            mlflow, note = servers.start_mlflow(workdir, args.mlflow_python)
            if mlflow is not None:
                targets.append(mlflow)
            named = {t.name: t for t in targets}
            for t in targets:  # warm-up, excluded; then the log writers' first flush
                wrk(t, 4, max(2.0, args.duration / 3), workdir)
            time.sleep(2.5)
            apart = (f"usina {other}", servers.OWN_PROCESS, servers.OWN_PROCESS_LOGGED)
            main_targets = [t for t in targets if t.name not in apart]
            measures += best_of(main_targets, args, workdir)
            # The throughput goals at c=32 once more, as paired medians, which the host's
            # drift moves less than a best round.
            like = [
                paired(named[peer], named[mine], 32, args, workdir, (mine,))
                for mine, peer in (("usina", "bare+fast"), ("usina predict()", "bare"))
            ]
            # And head to head: both at once on one core, so a slow moment slows both.
            pairs = [("usina", "bare+fast"), ("usina predict()", "bare")]
            h2h = [
                head_to_head(named[peer], named[mine], 32, args, workdir)
                for mine, peer in pairs
                if (os.cpu_count() or 1) >= 2
            ]
            if (os.cpu_count() or 1) >= 2:  # the log's cost, both ways round
                swapped = (named["usina -log"], named[servers.OWN_PROCESS_LOGGED])
                h2h.append(
                    head_to_head(
                        named[servers.OWN_PROCESS], named["usina"], 32, args, workdir, swapped
                    )
                )
            log_cost = [
                paired(named["usina -log"], named["usina"], c, args, workdir, ("usina",))
                for c in (1, 32)
            ]
            http = []
            if other:
                both = ("usina", f"usina {other}")
                http = [
                    paired(named[f"usina {other}"], named["usina"], c, args, workdir, both)
                    for c in (1, 32)
                ]
        finally:
            for process in {id(t.process): t.process for t in targets}.values():
                servers.stop(process)
    result = {
        "python": platform.python_version(),
        "http": args.http,
        "pinned": args.pin,
        "note": note,
        "load_start": load_start,
        "load_end": servers.load_average(),
        "measures": [asdict(m) for m in measures],
        "goals": goal_rows(measures),
        "like_pairs": like,
        "head_to_head": h2h,
        "log_cost": log_cost,
        "http_pairs": http,
        "info": info_rows(measures, stack_us, h2h),
    }
    print(f"load average at end: {result['load_end']}", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result, args)


if __name__ == "__main__":
    main()
