"""Online serving speed: one scikit-learn model, one load generator, five servers, one run.

What it measures, for a one-row GradientBoostingClassifier (100 trees, 8 numeric inputs):

1. in-process  ``model.predict`` on a one-row array: the limit for a server that calls it.
2. bare        a Starlette handler on uvicorn doing the same predict (orjson in, orjson out):
               the lean floor for a Python server.
3. usina       ``usina serve`` (one worker) on the Vertex AI route, with signature checking,
               Prometheus metrics and the request log (every request logged) on.
   usina -log  the same server and version through a second endpoint whose log sampling is 0,
               to price the request log.
4. usina predict()
               a second ``usina serve`` with ``USINA_SERVE_FAST_PREDICT=false``: the same
               server calling the model's own ``predict``, to show what the fast predictor adds.
5. mlflow      ``mlflow models serve --env-manager local`` on ``/invocations``, from its own
               virtualenv (``--mlflow-python``), skipped with a note when absent.

Every server gets one worker process, binds 127.0.0.1, and is driven by wrk (Debian's
``wrk`` package) with the same JSON row. All servers run at once: after a warm-up each, every
round drives each server at concurrency 1 (``-t1 -c1``) then 32 (``-t2 -c32``), and the best
of ``--repeat`` rounds (by throughput) is kept, so load from elsewhere on the machine falls on
every server alike. wrk reports p50/p99 latency and throughput; a non-2xx answer is counted and
printed. Every model is trained from the same seeded data, so all sides predict with identical
trees.

    python benchmarks/serving.py                        # 3 rounds of 10 s
    python benchmarks/serving.py --duration 2 --repeat 1   # a smoke run
    python benchmarks/serving.py --mlflow-python /tmp/mlflow-venv/bin/python
    python benchmarks/serving.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

COLUMNS = [f"x{i}" for i in range(8)]
ROW = {c: round(0.1 * (i + 1), 3) for i, c in enumerate(COLUMNS)}
GOALS = {
    "usina / bare throughput": 0.90,
    "usina / mlflow throughput": 10.0,
    "usina p50 overhead over in-process (ms, c=1)": 0.5,
    "usina p99 overhead over in-process (ms, c=1)": 2.0,
    "request log cost (share of throughput)": 0.05,
}

TRAIN = """
import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
rng = np.random.default_rng(42)
X = rng.normal(size=(2000, 8))
y = (X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3] > 0).astype(int)
model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(X, y)
"""


@dataclass(frozen=True)
class Measure:
    """One server at one concurrency."""

    server: str
    concurrency: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train() -> Any:
    scope: dict[str, Any] = {}
    exec(TRAIN, scope)
    return scope["model"]


# -- the bare Starlette handler ------------------------------------------------------------


def bare_app(model_path: str) -> Any:
    """A Starlette app doing what a hand-written model server does, and nothing more."""
    import numpy as np
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    with open(model_path, "rb") as f:
        model = pickle.load(f)

    async def predict(request: Request) -> Response:
        payload = orjson.loads(await request.body())
        rows = [[instance[c] for c in COLUMNS] for instance in payload["instances"]]
        predictions = model.predict(np.array(rows, dtype=np.float64))
        return Response(
            orjson.dumps({"predictions": predictions.tolist()}), media_type="application/json"
        )

    return Starlette(routes=[Route("/predict", predict, methods=["POST"])])


def run_bare(port: int, model_path: str) -> None:
    import uvicorn

    uvicorn.run(
        bare_app(model_path), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )


# -- servers and wrk -----------------------------------------------------------------------


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready in {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wrk(
    url: str, body: bytes, concurrency: int, duration: float, workdir: Path
) -> tuple[float, float, float, int]:
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body.decode())}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    threads = 1 if concurrency == 1 else 2
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)) else 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return rate, _percentile(out, "50"), _percentile(out, "99"), errors


def _percentile(out: str, p: str) -> float:
    value, unit = re.search(rf"^\s+{p}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


@dataclass
class Target:
    """A running server to drive: its URL, request body, and how to stop it."""

    name: str
    url: str
    body: bytes
    process: subprocess.Popen[bytes]


def in_process(model: Any, n: int) -> list[Measure]:
    import numpy as np

    row = np.array([[ROW[c] for c in COLUMNS]], dtype=np.float64)
    for _ in range(200):
        model.predict(row)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - start)
    times.sort()
    p50, p99 = times[n // 2] * 1000, times[int(n * 0.99)] * 1000
    rate = n / sum(times)
    print(
        f"  in-process  c=1   {rate:8.0f} pred/s p50 {p50:7.2f} ms  p99 {p99:7.2f} ms",
        file=sys.stderr,
    )
    return [Measure("in-process", 1, rate, p50, p99, 0)]


def start_usina(model: Any, workdir: Path) -> list[Target]:
    """One ``usina serve`` process with two endpoints on the same version: ``bench`` logs
    every request, ``bench-nolog`` none, so the log's price is measured in one process; and a
    second one with the fast predictor off."""
    import pandas as pd

    from usina.client import Client
    from usina.serving import SqlEndpointStore

    home = workdir / "usina"
    client = Client(f"sqlite:///{home / 'usina.db'}", str(home / "artifacts"))
    client.register_model(model, "bench", input_example=pd.DataFrame([ROW]))
    store = SqlEndpointStore(client.db, artifacts=client.artifacts)
    store.create("bench", "models:/bench/1", sample_rate=1.0)
    store.create("bench-nolog", "models:/bench/1", sample_rate=0.0)
    client.close()
    body = json.dumps({"instances": [ROW]}).encode()
    targets = []
    for fast in ("true", "false"):
        port = free_port()
        env = {
            **os.environ,
            "USINA_DB_URL": f"sqlite:///{home / 'usina.db'}",
            "USINA_ARTIFACTS": str(home / "artifacts"),
            "USINA_SERVE_PORT": str(port),
            "USINA_SERVE_WORKERS": "1",
            "USINA_SERVE_FAST_PREDICT": fast,
        }
        usina = shutil.which("usina", path=str(Path(sys.executable).parent)) or "usina"
        process = subprocess.Popen(
            [usina, "serve"], env=env, cwd=workdir, stdout=subprocess.DEVNULL
        )
        wait_ready(f"http://127.0.0.1:{port}/v2/models/bench/ready", process)
        base = f"http://127.0.0.1:{port}/v1/endpoints"
        if fast == "true":
            targets.append(Target("usina", f"{base}/bench:predict", body, process))
            targets.append(Target("usina -log", f"{base}/bench-nolog:predict", body, process))
        else:
            targets.append(Target("usina predict()", f"{base}/bench:predict", body, process))
    return targets


def start_bare(model: Any, workdir: Path) -> Target:
    model_path = workdir / "model.pkl"
    model_path.write_bytes(pickle.dumps(model))
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--bare", str(port), str(model_path)])
    body = json.dumps({"instances": [ROW]}).encode()
    url = f"http://127.0.0.1:{port}/predict"
    wait_ready_post(url, body, process)
    return Target("bare", url, body, process)


def wait_ready_post(url: str, body: bytes, process: subprocess.Popen[bytes]) -> None:
    import urllib.request

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {process.returncode}")
        try:
            request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in 120 s")


def start_mlflow(workdir: Path, python: str | None) -> tuple[Target | None, str]:
    if not python or not Path(python).exists():
        return (
            None,
            "MLflow skipped: pass --mlflow-python PATH to a virtualenv with mlflow installed",
        )
    model_dir = workdir / "mlflow-model"
    save = TRAIN + (
        "import mlflow, mlflow.sklearn, pandas as pd\n"
        # MLflow hands the model a DataFrame; fitted on one, the same trees raise no warning.
        f"model.fit(pd.DataFrame(X, columns={COLUMNS!r}), y)\n"
        f"mlflow.sklearn.save_model(model, {str(model_dir)!r}, "
        f"input_example=pd.DataFrame([{ROW!r}]), "
        # MLflow 3 stores scikit-learn with skops and asks which tree types to trust.
        "**({'skops_trusted_types': ['sklearn.tree._tree.Tree']} "
        "if mlflow.__version__ >= '3.' else {}))\n"
        "print(mlflow.__version__)\n"
    )
    out = subprocess.run([python, "-c", save], capture_output=True, text=True, check=True)
    version = out.stdout.split()[-1]
    port = free_port()
    mlflow = str(Path(python).parent / "mlflow")
    process = subprocess.Popen(
        [
            mlflow,
            "models",
            "serve",
            "-m",
            str(model_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "--env-manager",
            "local",
            "-w",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # MLflow starts uvicorn by name, so its virtualenv's bin must come first on PATH.
        env={
            **os.environ,
            "PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        },
    )
    body = json.dumps({"dataframe_records": [ROW]}).encode()
    url = f"http://127.0.0.1:{port}/invocations"
    wait_ready_post(url, body, process)
    return Target("mlflow", url, body, process), f"MLflow {version}"


def measure(targets: list[Target], args: argparse.Namespace, workdir: Path) -> list[Measure]:
    """Warm every server, then run rounds in which each server is driven at c=1 and c=32 in
    turn; interleaving spreads other load on the machine over all servers alike, and the best
    round of each (server, concurrency) by throughput is kept."""
    for t in targets:
        wrk(t.url, t.body, 4, max(2.0, args.duration / 3), workdir)  # warm-up, excluded
    runs: dict[tuple[str, int], list[tuple[float, float, float, int]]] = {}
    for round_ in range(args.repeat):
        # Rotate the order each round, so no server always follows the same neighbour.
        for t in targets[round_ % len(targets) :] + targets[: round_ % len(targets)]:
            for concurrency in (1, 32):
                result = wrk(t.url, t.body, concurrency, args.duration, workdir)
                runs.setdefault((t.name, concurrency), []).append(result)
                rate, p50, p99, errors = result
                print(
                    f"  round {round_ + 1} {t.name:<16} c={concurrency:<3} {rate:8.0f} req/s  "
                    f"p50 {p50:7.2f} ms  p99 {p99:7.2f} ms"
                    + (f"  {errors} errors" if errors else ""),
                    file=sys.stderr,
                )
    found = []
    for (name, concurrency), results in runs.items():
        rate, p50, p99, _ = max(results, key=lambda r: r[0])
        found.append(Measure(name, concurrency, rate, p50, p99, sum(r[3] for r in results)))
    return found


def ratios(measures: list[Measure]) -> dict[str, float | None]:
    by = {(m.server, m.concurrency): m for m in measures}

    def get(server: str, c: int) -> Measure | None:
        return by.get((server, c))

    out: dict[str, float | None] = {}
    for c in (1, 32):
        usina, bare, mlflow = get("usina", c), get("bare", c), get("mlflow", c)
        off = get("usina -log", c)
        out[f"usina / bare throughput (c={c})"] = (
            usina.requests_per_s / bare.requests_per_s if usina and bare else None
        )
        out[f"usina / mlflow throughput (c={c})"] = (
            usina.requests_per_s / mlflow.requests_per_s if usina and mlflow else None
        )
        out[f"request log cost (c={c})"] = (
            1 - usina.requests_per_s / off.requests_per_s if usina and off else None
        )
    usina1, limit = get("usina", 1), get("in-process", 1)
    if usina1 and limit:
        out["usina p50 overhead over in-process (ms, c=1)"] = usina1.p50_ms - limit.p50_ms
        out["usina p99 overhead over in-process (ms, c=1)"] = usina1.p99_ms - limit.p99_ms
    bare1 = get("bare", 1)
    if bare1 and limit:
        out["bare p50 overhead over in-process (ms, c=1)"] = bare1.p50_ms - limit.p50_ms
    for c in (1, 32):
        plain, bare, mlflow = get("usina predict()", c), get("bare", c), get("mlflow", c)
        if plain and bare:
            out[f"usina predict() / bare throughput (c={c})"] = (
                plain.requests_per_s / bare.requests_per_s
            )
        if plain and mlflow:
            out[f"usina predict() / mlflow throughput (c={c})"] = (
                plain.requests_per_s / mlflow.requests_per_s
            )
    plain1 = get("usina predict()", 1)
    if plain1 and limit:
        out["usina predict() p99 overhead over in-process (ms, c=1)"] = plain1.p99_ms - limit.p99_ms
    return out


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--bare":
        run_bare(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds per measurement.")
    parser.add_argument(
        "--mlflow-python",
        default=os.environ.get("USINA_BENCH_MLFLOW_PYTHON"),
        help="Python of a virtualenv with mlflow (for 'mlflow models serve').",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="Rounds over all servers; each keeps its best."
    )
    parser.add_argument("--json", action="store_true", help="Print results as JSON.")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    model = train()
    measures: list[Measure] = []
    targets: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="usina-bench-serving-") as tmp:
        workdir = Path(tmp)
        measures += in_process(model, 5000)
        try:
            targets.append(start_bare(model, workdir))
            targets += start_usina(model, workdir)
            mlflow, note = start_mlflow(workdir, args.mlflow_python)
            if mlflow is not None:
                targets.append(mlflow)
            measures += measure(targets, args, workdir)
        finally:
            for process in {id(t.process): t.process for t in targets}.values():
                stop(process)
    found = ratios(measures)
    if args.json:
        print(
            json.dumps(
                {"measures": [asdict(m) for m in measures], "ratios": found, "note": note}, indent=2
            )
        )
        return
    print(
        f"\nOnline serving, one-row GradientBoostingClassifier; {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; {note}; best of {args.repeat} rounds of {args.duration:g} s\n"
    )
    print(f"{'server':<16} {'c':>3} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for m in measures:
        print(
            f"{m.server:<16} {m.concurrency:>3} {m.requests_per_s:>9.0f} "
            f"{m.p50_ms:>8.2f} {m.p99_ms:>8.2f} {m.errors:>7}"
        )
    print()
    for name, value in found.items():
        goal = next((g for key, g in GOALS.items() if name.startswith(key.split(" (")[0])), None)
        shown = "n/a" if value is None else f"{value:.3f}"
        print(f"{name:<56} {shown:>8}" + (f"   goal {goal:g}" if goal is not None else ""))


if __name__ == "__main__":
    main()
