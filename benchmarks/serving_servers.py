"""The servers ``benchmarks/serving.py`` drives, the wrk runs that drive them, and /proc readings.

Run as ``python serving_servers.py --bare PORT MODEL_PATH fast|predict HTTP`` it is one of the
bare Starlette servers.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COLUMNS = [f"x{i}" for i in range(8)]
ROW = {c: round(0.1 * (i + 1), 3) for i, c in enumerate(COLUMNS)}
TRAIN = """
import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
rng = np.random.default_rng(42)
X = rng.normal(size=(2000, 8))
y = (X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3] > 0).astype(int)
model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(X, y)
"""
TICKS = os.sysconf("SC_CLK_TCK")


def train() -> Any:
    scope: dict[str, Any] = {}
    exec(TRAIN, scope)
    return scope["model"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fast_predictor(model: Any) -> Any:
    """The predictor ``usina serve`` builds for this model, through the same function."""
    from usina.serving.fastpath import compile_predictor

    predictor = compile_predictor(model, len(COLUMNS))
    if predictor is None:
        raise RuntimeError("usina has no fast predictor for the benchmark's model")
    return predictor


# -- the bare Starlette handlers -----------------------------------------------------------


def bare_app(model_path: str, fast: bool) -> Any:
    """A Starlette app doing what a hand-written model server does, and nothing more: with
    ``fast``, it calls usina's fast predictor, after the finiteness check that predictor
    relies on (``predict`` makes that check itself)."""
    import numpy as np
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    with open(model_path, "rb") as f:
        model = pickle.load(f)
    predict = fast_predictor(model) if fast else model.predict

    async def handle(request: Request) -> Response:
        payload = orjson.loads(await request.body())
        rows = [[instance[c] for c in COLUMNS] for instance in payload["instances"]]
        x = np.array(rows, dtype=np.float64)
        if fast and not np.isfinite(x).all():
            return Response(b'{"error": "not finite"}', 400, media_type="application/json")
        return Response(
            orjson.dumps({"predictions": predict(x).tolist()}), media_type="application/json"
        )

    return Starlette(routes=[Route("/predict", handle, methods=["POST"])])


def run_bare(port: int, model_path: str, fast: bool, http: str) -> None:
    import uvicorn

    uvicorn.run(
        bare_app(model_path, fast),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        http=http,
        loop="asyncio",
    )


# -- processes -----------------------------------------------------------------------------


@dataclass
class Target:
    """A running server to drive: its URL, request body, and process."""

    name: str
    url: str
    body: bytes
    process: subprocess.Popen[bytes]
    headers: tuple[tuple[str, str], ...] = ()


def wait_ready(url: str, process: subprocess.Popen[bytes], body: bytes | None = None) -> None:
    """Wait until ``url`` answers 200 (to a POST of ``body`` when given)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {process.returncode}")
        try:
            headers = {"Content-Type": "application/json"}
            with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in 120 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# CPUs the servers run on (``taskset -c``; children such as usina's log writer inherit it), or
# None for anywhere; with ``WRK_CPUS`` on the other CPU, the load generator and the servers
# never share a core (``--pin`` in serving.py and serving_auth.py).
SERVER_CPUS: str | None = None


def pinned(command: list[str]) -> list[str]:
    """``command`` run on ``SERVER_CPUS`` when set."""
    return ["taskset", "-c", SERVER_CPUS, *command] if SERVER_CPUS is not None else command


def start_bare(model: Any, workdir: Path, fast: bool, http: str) -> Target:
    model_path = workdir / "model.pkl"
    model_path.write_bytes(pickle.dumps(model))
    port = free_port()
    mode = "fast" if fast else "predict"
    process = subprocess.Popen(
        pinned([sys.executable, __file__, "--bare", str(port), str(model_path), mode, http])
    )
    body = json.dumps({"instances": [ROW]}).encode()
    url = f"http://127.0.0.1:{port}/predict"
    wait_ready(url, process, body)
    return Target("bare+fast" if fast else "bare", url, body, process)


def prepare_usina(model: Any, workdir: Path) -> Path:
    """A usina home under ``workdir`` with ``model`` registered and two endpoints on it:
    ``bench`` logs every request and ``bench-nolog`` none."""
    import pandas as pd

    from usina.client import Client
    from usina.serving import SqlEndpointStore

    home = workdir / "usina"
    client = Client(f"sqlite:///{home / 'usina.db'}", str(home / "artifacts"))
    client.register_model(model, "bench", input_example=pd.DataFrame([ROW]))
    assert client.db is not None  # a local client
    store = SqlEndpointStore(client.db, artifacts=client.artifacts)
    store.create("bench", "models:/bench/1", sample_rate=1.0)
    store.create("bench-nolog", "models:/bench/1", sample_rate=0.0)
    client.close()
    return home


def usina_env(home: Path) -> dict[str, str]:
    """The settings a ``usina serve`` over ``home`` needs."""
    return {
        "USINA_DB_URL": f"sqlite:///{home / 'usina.db'}",
        "USINA_ARTIFACTS": str(home / "artifacts"),
    }


OWN_PROCESS = "usina -log, own process"
# The same process through its logging endpoint: the log's cost head to head is measured both
# ways round, so that whatever one process does faster than the other cancels out.
OWN_PROCESS_LOGGED = "usina, own process"


def start_usina(model: Any, workdir: Path, http: str, other_http: str | None) -> list[Target]:
    """``usina serve`` processes, one worker each, on one database: ``bench`` logs every
    request and ``bench-nolog`` none, so the log's price is measured in one process; a second
    process has the fast predictor off; a third is the first again (``usina -log, own
    process`` through ``bench-nolog``, ``usina, own process`` through ``bench``), so the log's
    price is also measured with both sides at once, both ways round; with ``other_http``, a
    fourth is the first with the other HTTP parser."""
    home = prepare_usina(model, workdir)
    body = json.dumps({"instances": [ROW]}).encode()
    usina = shutil.which("usina", path=str(Path(sys.executable).parent)) or "usina"
    targets = []
    runs = [
        ("usina", "true", http),
        ("usina predict()", "false", http),
        (OWN_PROCESS, "true", http),
    ]
    if other_http:
        runs.append((f"usina {other_http}", "true", other_http))
    for name, fast, parser in runs:
        port = free_port()
        env = {
            **os.environ,
            **usina_env(home),
            "USINA_SERVE_PORT": str(port),
            "USINA_SERVE_WORKERS": "1",
            "USINA_SERVE_FAST_PREDICT": fast,
            "USINA_SERVE_HTTP": parser,
        }
        process = subprocess.Popen(
            pinned([usina, "serve"]), env=env, cwd=workdir, stdout=subprocess.DEVNULL
        )
        wait_ready(f"http://127.0.0.1:{port}/v2/models/bench/ready", process)
        base = f"http://127.0.0.1:{port}/v1/endpoints"
        endpoint = "bench-nolog" if name == OWN_PROCESS else "bench"
        targets.append(Target(name, f"{base}/{endpoint}:predict", body, process))
        if name == "usina":
            targets.append(Target("usina -log", f"{base}/bench-nolog:predict", body, process))
        if name == OWN_PROCESS:
            targets.append(Target(OWN_PROCESS_LOGGED, f"{base}/bench:predict", body, process))
    return targets


def start_mlflow(workdir: Path, python: str | None) -> tuple[Target | None, str]:
    if not python or not Path(python).exists():
        return None, "MLflow skipped: pass --mlflow-python PATH to a virtualenv with mlflow"
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
    command = [mlflow, "models", "serve", "-m", str(model_dir), "-h", "127.0.0.1"]
    process = subprocess.Popen(
        pinned([*command, "-p", str(port), "--env-manager", "local", "-w", "1"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # MLflow starts uvicorn by name, so its virtualenv's bin must come first on PATH.
        env={**os.environ, "PATH": f"{Path(python).parent}{os.pathsep}{os.environ['PATH']}"},
    )
    body = json.dumps({"dataframe_records": [ROW]}).encode()
    url = f"http://127.0.0.1:{port}/invocations"
    wait_ready(url, process, body)
    return Target("mlflow", url, body, process), f"MLflow {version}"


# -- wrk and /proc -------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One wrk run: throughput, latency percentiles, errors, requests answered."""

    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


# CPUs wrk may run on (``taskset -c``), or None for anywhere; see serving_auth.py's --pin.
WRK_CPUS: str | None = None


def wrk(
    target: Target, concurrency: int, duration: float, workdir: Path, cpus: str | None = None
) -> Run:
    """One wrk run against ``target``, on ``cpus`` (``taskset -c``) or else ``WRK_CPUS``."""
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(target.body.decode())}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        + "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in target.headers)
    )
    threads = 1 if concurrency == 1 else 2
    command = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(duration))}s"]
    cpus = cpus or WRK_CPUS
    if cpus is not None:
        command = ["taskset", "-c", cpus, *command]
    out = subprocess.run(
        [*command, "--latency", "-s", str(script), target.url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)) else 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return Run(rate, _percentile(out, "50"), _percentile(out, "99"), errors, requests - errors)


def _percentile(out: str, p: str) -> float:
    value, unit = re.search(rf"^\s+{p}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (its /proc stat utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def process_tree(pid: int) -> list[int]:
    """A process and every live descendant (MLflow's server is a child of the ``mlflow``
    command; usina's includes its request log writer)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time so far of a process and every live descendant."""
    total = 0.0
    for current in process_tree(pid):
        try:
            total += cpu_seconds(current)
        except OSError:
            continue
    return total


def set_affinity(pids: list[int], cpus: set[int]) -> None:
    """Run every thread of the processes ``pids`` on ``cpus`` (an affinity is per thread)."""
    for pid in pids:
        try:
            threads = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
        except OSError:
            continue
        for tid in threads:
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:
                continue


def writer_pid(server_pid: int) -> int | None:
    """The request log's writer process started by a serving worker, if there is one."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == server_pid and b"logwriter" in command:
            return int(entry.name)
    return None


LOGGING_ENDPOINT = "bench"  # the endpoint whose every request is logged (sample rate 1)


def logs(target: Target) -> bool:
    """Whether requests to ``target`` go to usina's request log."""
    return target.url.endswith(f"/{LOGGING_ENDPOINT}:predict")


def _metric(text: str, name: str, endpoint: str, status: str | None = None) -> float:
    """The sum of a Prometheus counter's samples for ``endpoint`` (and ``status``)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        labels, _, value = line.partition("} ")
        if f'endpoint="{endpoint}"' in labels and (
            status is None or f'status="{status}"' in labels
        ):
            total += float(value)
    return total


def wait_log_written(target: Target, timeout: float = 90.0) -> None:
    """Wait until the server of ``target`` has written (or dropped and counted) a log row for
    every request it answered through its logging endpoint: its /metrics say so. Rows wait in
    the server for a flush interval and in its writer for a file interval, so a measure of the
    writer's CPU that stops earlier would leave some of its work out."""
    base = target.url.split("/v1/", 1)[0]
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        answered = _metric(text, "usina_requests_total", LOGGING_ENDPOINT, "200")
        stored = _metric(text, "usina_request_log_rows_written_total", LOGGING_ENDPOINT)
        stored += _metric(text, "usina_request_log_rows_dropped_total", LOGGING_ENDPOINT)
        if stored >= answered:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{target.name}: {answered - stored:.0f} of {answered:.0f} logged requests "
                f"not written after {timeout:g} s"
            )
        time.sleep(0.2)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "--bare":
    run_bare(int(sys.argv[2]), sys.argv[3], sys.argv[4] == "fast", sys.argv[5])
