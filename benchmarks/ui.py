"""Web console: server time per page with 1,000 versions, 10,000 runs and 1,000,000 requests.

It seeds a fresh SQLite database and artifact folder: one model with 1,000 versions (and 200
alias moves), one experiment with 10,000 runs (3 params, 2 metrics of 20 steps each), an
endpoint whose request log holds 1,000,000 rows over the last 24 hours in two versions
(written as the request-log writer writes them: zstd Parquet under
``request-log/endpoint=NAME/date=DAY/``, each file a stretch of time). Rows are inserted in
bulk, not through the stores: the point is the pages, not the seeding. One policy on the model
has as many decisions (events) as the experiment has runs. Pipeline runs,
monitors, alerts, batch jobs and datasets are left empty: the issue's sizes do not name them,
and their pages read one page of rows (a limit) whatever the table holds.

Each page is then asked for through the app in-process (httpx's ASGI transport: no socket,
so the time is the server's: routing, the access check, the queries and the rendering), once
to warm up and ``--repeat`` times measured; the table shows the median and the slowest. The
goal is every page under 300 ms.

No peer column: MLflow's UI renders in the browser from its REST API, so it has no server
page time to put beside these (its search endpoints are measured in benchmarks/tracking.py).

    python benchmarks/ui.py               # the full sizes, 5 repeats
    python benchmarks/ui.py --quick       # 100 versions, 1,000 runs, 100,000 requests
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from usina.store import Database

GOAL_MS = 300.0


def seed(root: Path, versions: int, runs: int, requests: int) -> dict[str, str]:
    import numpy as np
    import orjson
    import pyarrow as pa
    import pyarrow.parquet as pq
    import sqlalchemy as sa

    from usina.artifacts import open_artifact_store
    from usina.registry import SqlRegistryStore
    from usina.serving import SqlEndpointStore
    from usina.store import Database
    from usina.store import schema as t

    db_url = f"sqlite:///{root / 'usina.db'}"
    artifacts = root / "artifacts"
    db = Database(db_url)
    db.migrate()
    now = time.time()
    signature = orjson.dumps(
        {"inputs": [{"name": f"f{i}", "dtype": "double"} for i in range(12)]}
    ).decode()
    with db.engine.begin() as conn:
        model_id = conn.execute(
            t.models.insert().values(
                name="bench-model", last_version=versions, created_at=now, created_by="bench"
            )
        ).inserted_primary_key[0]
        conn.execute(
            t.model_versions.insert(),
            [
                {
                    "model_id": model_id,
                    "version": v,
                    "digest": f"{v:064x}",
                    "size": 1000,
                    "format": "sklearn",
                    "model_class": "sklearn.linear_model.LogisticRegression",
                    "signature": signature,
                    "metrics": orjson.dumps({"auc": 0.8 + v / versions / 10}).decode(),
                    "run_id": None,
                    "created_at": now - (versions - v) * 60,
                    "created_by": "bench",
                }
                for v in range(1, versions + 1)
            ],
        )
        experiment = conn.execute(
            t.experiments.insert().values(name="bench", created_at=now, created_by="bench")
        ).inserted_primary_key[0]
        ids = [uuid.uuid4().hex for _ in range(runs)]
        conn.execute(
            t.runs.insert(),
            [
                {
                    "id": rid,
                    "experiment_id": experiment,
                    "name": f"run-{i}",
                    "status": "finished",
                    "start_time": now - (runs - i) * 10,
                    "end_time": now - (runs - i) * 10 + 5,
                    "heartbeat_at": now,
                    "created_by": "bench",
                }
                for i, rid in enumerate(ids)
            ],
        )
        conn.execute(
            t.params.insert(),
            [
                {"run_id": rid, "key": key, "value": str(i % 7)}
                for i, rid in enumerate(ids)
                for key in ("C", "max_iter", "penalty")
            ],
        )
        conn.execute(
            t.metrics.insert(),
            [
                {
                    "run_id": rid,
                    "key": key,
                    "value": 1.0 / (step + 1) + i * 1e-6,
                    "step": step,
                    "timestamp": now,
                }
                for i, rid in enumerate(ids)
                for key in ("loss", "auc")
                for step in range(20)
            ],
        )
    store = open_artifact_store(str(artifacts), None)
    registry = SqlRegistryStore(db, "bench", artifacts=store)
    moves = min(200, versions)
    for move in range(moves):
        registry.set_alias("bench-model", "champion", versions - moves + move + 1, f"move {move}")
    endpoints = SqlEndpointStore(db, "bench", artifacts=store, registry=registry)
    endpoints.create("bench", "models:/bench-model@champion")
    rng = np.random.default_rng(7)
    per_file = 100_000
    written = 0
    while written < requests:
        n = min(per_file, requests - written)
        # Files cover consecutive stretches of time, as the writer's do (it writes as requests
        # come), so a short window reads only the files that overlap it.
        first = now - 86400 * (1 - written / requests)
        times = np.sort(first + rng.uniform(0, 86400 * n / requests, n))
        day = time.strftime("%Y-%m-%d", time.gmtime(float(times.min())))
        table = pa.table(
            {
                "request_id": pa.array([uuid.uuid4().hex for _ in range(n)], pa.string()),
                "time": pa.array((times * 1e6).astype("int64"), pa.timestamp("us", tz="UTC")),
                "endpoint": pa.array(["bench"] * n, pa.string()),
                "model": pa.array(["bench-model"] * n, pa.string()),
                "version": pa.array(rng.choice([versions - 1, versions], n), pa.int32()),
                "shadow": pa.array(np.zeros(n, bool), pa.bool_()),
                "protocol": pa.array(["vertex"] * n, pa.string()),
                "status": pa.array(np.where(rng.random(n) < 0.01, 500, 200), pa.int16()),
                "latency_ms": pa.array(rng.gamma(2.0, 4.0, n), pa.float64()),
                "inputs": pa.array(['{"f0": 1.0}'] * n, pa.string()),
                "outputs": pa.array(["[0.1]"] * n, pa.string()),
                "error": pa.array([None] * n, pa.string()),
            }
        )
        folder = artifacts / "request-log" / "endpoint=bench" / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            table, folder / f"bench-{written // per_file:05d}.parquet", compression="zstd"
        )
        written += n
    seed_policy(db, now, versions, events=runs)
    with db.engine.begin() as conn:
        conn.execute(sa.text("analyze"))
    db.dispose()
    return {"db_url": db_url, "artifacts": str(artifacts)}


def seed_policy(db: Database, now: float, versions: int, events: int) -> None:
    """One policy on the model, its loop's state, and ``events`` decisions (a gate report in
    every gate event), inserted in bulk."""
    import orjson

    from usina.store import schema as t

    spec = {
        "name": "bench-loop",
        "monitor": "bench-watch",
        "model": "bench-model",
        "endpoint": "bench",
        "on_breach": "retrain",
        "after": 2,
        "cooldown": 3600.0,
        "retrain": {
            "pipeline": "bench.pipeline:retraining",
            "params": {},
            "data_param": "data",
            "dataset": "bench-window",
            "window": 86400.0,
            "timeout": 3600.0,
        },
        "gate": {"rules": ["auc >= champion.auc + 0.005"], "holdout": None, "max_rows": 10000},
        "rollout": {
            "canary": 10,
            "shadow": False,
            "window": 600.0,
            "min_requests": 200,
            "patience": 3,
            "metric": "auc",
            "margin": 0.01,
        },
        "rollback": {"watch": 3600.0, "margin": 0.02},
    }
    kinds = (
        "breach",
        "retrain_started",
        "gate_failed",
        "gate_passed",
        "canary_started",
        "promoted",
        "rolled_back",
    )
    report = {
        "passed": False,
        "rows": 5000,
        "candidate": {"auc": 0.81, "accuracy": 0.77, "latency_p99": 1.2},
        "champion": {"auc": 0.82, "accuracy": 0.78, "latency_p99": 1.1},
        "rules": [
            {"rule": "auc >= champion.auc + 0.005", "passed": False, "value": 0.81, "bound": 0.825}
        ],
    }
    with db.engine.begin() as conn:
        conn.execute(
            t.policies.insert().values(
                name="bench-loop",
                spec=orjson.dumps(spec).decode(),
                created_at=now,
                updated_at=now,
                updated_by="bench",
            )
        )
        conn.execute(
            t.policy_rollouts.insert().values(
                policy="bench-loop",
                state="canary",
                generation=events,
                champion=versions - 1,
                candidate=versions,
                since=now,
                seen_upto=now,
                breaches=0,
                last_retrain=now,
                holder=None,
                data="{}",
                updated_at=now,
            )
        )
        conn.execute(
            t.policy_events.insert(),
            [
                {
                    "policy": "bench-loop",
                    "model": "bench-model",
                    "version": versions,
                    "kind": kinds[i % len(kinds)],
                    "reason": f"policy bench-loop: decision {i}",
                    "figures": orjson.dumps(
                        {"gate": report, "champion": versions - 1}
                        if kinds[i % len(kinds)].startswith("gate")
                        else {"champion": versions - 1}
                    ).decode(),
                    "generation": i + 1,
                    "at": now - (events - i) * 10,
                    "actor": "bench",
                }
                for i in range(events)
            ],
        )


PAGES = [
    ("overview", "/ui"),
    ("models", "/ui/models"),
    ("model (1,000 versions)", "/ui/models/bench-model"),
    ("endpoint, last 1h", "/ui/endpoints/bench"),
    ("endpoint, last 24h (1M rows)", "/ui/endpoints/bench?window=24h"),
    ("experiments", "/ui/experiments"),
    ("experiment (10,000 runs)", "/ui/experiments/bench"),
    ("pipeline runs", "/ui/pipeline-runs"),
    ("monitors", "/ui/monitors"),
    ("alerts", "/ui/alerts"),
    ("audit log", "/ui/audit"),
    ("batch jobs", "/ui/batch"),
    ("datasets", "/ui/datasets"),
    ("policies", "/ui/policies"),
    ("policy (10,000 events)", "/ui/policies/bench-loop"),
    ("policy, older events", "/ui/policies/bench-loop?before=500"),
]


async def measure(config: dict[str, str], repeat: int) -> list[tuple[str, list[float]]]:
    import httpx

    from usina.server import ServerConfig, create_app

    app = create_app(
        ServerConfig(db_url=config["db_url"], artifacts=config["artifacts"], serving=None)
    )
    results = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
        ) as client,
    ):
        for name, path in PAGES:
            first = await client.get(path)
            assert first.status_code == 200, (path, first.status_code, first.text[:300])
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                answer = await client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200
            results.append((name, times))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    versions, runs, requests = 1000 // scale, 10_000 // scale, 1_000_000 // scale
    with tempfile.TemporaryDirectory(prefix="usina-ui-bench-") as tmp:
        started = time.perf_counter()
        config = seed(Path(tmp), versions, runs, requests)
        seeded = time.perf_counter() - started
        print(
            f"seeded {versions:,} versions, {runs:,} runs, {requests:,} logged requests "
            f"in {seeded:.1f} s; {args.repeat} requests per page after one warm-up "
            f"(in-process ASGI, server time); Python {sys.version.split()[0]}, "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start"
        )
        results = asyncio.run(measure(config, args.repeat))
    print(f"\n{'page':<32} {'median ms':>10} {'slowest ms':>11}  goal < {GOAL_MS:.0f} ms")
    worst = 0.0
    for name, times in results:
        median = statistics.median(times)
        worst = max(worst, median)
        verdict = "ok" if median < GOAL_MS else "OVER"
        print(f"{name:<32} {median:>10.1f} {max(times):>11.1f}  {verdict}")
    print(f"\nslowest page median: {worst:.1f} ms ({worst / GOAL_MS:.2f} of the goal)")
    return 0 if worst < GOAL_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
