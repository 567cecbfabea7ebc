"""Ingest speed and memory: ``usina ingest`` of a large CSV against DuckDB's own ``COPY`` of the
same file to Parquet (the limit: the fastest way this machine turns that CSV into Parquet).

A CSV of ``--gb`` gigabytes (default 5) is generated with DuckDB into a temporary folder:
``id`` (bigint), ``age`` (int), ``plan`` (5 values), ``city`` (1,000 values), ``income``
(double, 5% null), ``seen_at`` (timestamp) and ``approved`` (boolean). Then, each in a fresh
process, so its peak resident memory (``ru_maxrss``) is its own:

  usina      ``usina.datasets.ingest``: CSV parsed block by block, written as canonical
             Parquet (zstd, row groups of 262,144 rows), hashed, profiled by DuckDB (min, max,
             quantiles, top categories), stored in a local artifact folder and registered in
             SQLite: everything ``usina ingest FILE --dataset NAME`` does
  duckdb     ``COPY (SELECT * FROM read_csv(FILE)) TO 'x.parquet' (FORMAT parquet)``: parse
             and write only, on every core, with DuckDB's default memory limit

It prints rows/s of each, their ratio and each one's peak memory; the file is deleted at the
end. The machine is shared: compare the ratio from one run, not figures across runs.

    python benchmarks/ingest.py              # 5 GB; check 'df -h /tmp' first (~8 GB needed)
    python benchmarks/ingest.py --gb 0.5     # a quicker run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GENERATE = """
select i as id, 18 + (i * 7) % 60 as age,
       ['basic', 'plus', 'gold', 'platinum', 'student'][1 + (i % 5)::int] as plan,
       'city-' || ((i * 13) % 1000)::varchar as city,
       case when i % 20 = 0 then null else round(1000 + (i * 37) % 9000 + (i % 100) / 100.0, 2)
       end as income,
       timestamp '2026-01-01' + to_seconds(i % 31536000) as seen_at,
       i % 3 = 0 as approved
from range({rows}) t(i)
"""


def generate(path: Path, gb: float) -> int:
    """Write a CSV of about ``gb`` gigabytes at ``path``; returns its rows."""
    import duckdb

    con = duckdb.connect()
    sample = path.with_suffix(".sample.csv")
    con.execute(f"copy ({GENERATE.format(rows=100_000)}) to '{sample}' (header)")
    per_row = sample.stat().st_size / 100_000
    sample.unlink()
    rows = int(gb * 1e9 / per_row)
    con.execute(f"copy ({GENERATE.format(rows=rows)}) to '{path}' (header)")
    con.close()
    return rows


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_usina(csv: str, work: str) -> dict[str, Any]:
    from usina.client import Client
    from usina.datasets import ingest

    client = Client(f"sqlite:///{work}/usina.db", f"{work}/artifacts")
    client.datasets.list()  # the schema is created before the clock starts
    start = time.perf_counter()
    done = ingest(csv, "applications", client=client)
    seconds = time.perf_counter() - start
    v = done.version
    return {"seconds": seconds, "rows": v.rows, "parquet_mb": v.bytes / 1e6, "peak_mb": peak_mb()}


def child_duckdb(csv: str, work: str) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    start = time.perf_counter()
    con.execute(
        f"copy (select * from read_csv('{csv}')) to '{work}/duckdb.parquet' (format parquet)"
    )
    seconds = time.perf_counter() - start
    rows = con.execute(f"select count(*) from read_parquet('{work}/duckdb.parquet')").fetchall()
    size = os.path.getsize(f"{work}/duckdb.parquet") / 1e6
    return {"seconds": seconds, "rows": rows[0][0], "parquet_mb": size, "peak_mb": peak_mb()}


def measure(kind: str, csv: Path, work: Path) -> dict[str, Any]:
    folder = work / kind
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(csv), str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr}")
    shutil.rmtree(folder, ignore_errors=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=5.0, help="Size of the generated CSV.")
    parser.add_argument("--dir", default=None, help="Where to generate it (a temp folder).")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, csv, work = args.child
        result = child_usina(csv, work) if kind == "usina" else child_duckdb(csv, work)
        print(json.dumps(result))
        return

    work = Path(tempfile.mkdtemp(prefix="usina-bench-ingest-", dir=args.dir))
    try:
        csv = work / "applications.csv"
        start = time.perf_counter()
        rows = generate(csv, args.gb)
        size = csv.stat().st_size
        print(
            f"generated {size / 1e9:.2f} GB, {rows:,} rows in {time.perf_counter() - start:.0f}s "
            f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
        )
        results = {kind: measure(kind, csv, work) for kind in ("duckdb", "usina")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'':8} {'seconds':>8} {'rows/s':>12} {'MB/s':>7} {'Parquet MB':>10} {'peak MB':>8}")
    for kind, r in results.items():
        assert r["rows"] == rows, f"{kind} read {r['rows']:,} of {rows:,} rows"
        print(
            f"{kind:8} {r['seconds']:8.1f} {rows / r['seconds']:12,.0f} "
            f"{size / 1e6 / r['seconds']:7.0f} {r['parquet_mb']:10,.0f} {r['peak_mb']:8,.0f}"
        )
    ratio = results["duckdb"]["seconds"] / results["usina"]["seconds"]
    print(f"usina ingests at {ratio:.2f}x DuckDB's COPY (rows/s, usina / DuckDB)")


if __name__ == "__main__":
    main()
