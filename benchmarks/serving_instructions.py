"""Instructions a request costs in usina's serving process and in bare+fast, counted by callgrind.

Wall-clock throughput on a shared two-core machine drifts by 15-20% within minutes; the number
of instructions a server executes per request does not. This script starts each server under
``valgrind --tool=callgrind`` with collection off, warms it with 200 requests, then counts
the instructions of exactly ``--requests`` sequential requests (one keep-alive connection,
the same JSON row as ``benchmarks/serving.py``) and prints them per request:

  bare+fast   the bare Starlette handler calling usina's fast predictor (as in serving.py)
  usina       ``usina serve``, one worker, the endpoint that logs every request
  usina -log  the same process through the endpoint with log sampling 0

With ``--predict``, the like-for-like pair without the fast predictor is counted as well:

  bare             the bare handler calling ``model.predict``
  usina predict()  ``usina serve`` with ``USINA_SERVE_FAST_PREDICT=false``, the logged endpoint

Threads are counted apart (``--separate-threads``): the event loop's thread answers requests;
the others are the request log's hand-over and the endpoint poller. Their work is paced by
the clock (a flush a second, a poll every interval), and under valgrind a second covers far
fewer requests than natively, so their per-request figures here are upper bounds. The log
writer process is not counted (callgrind does not follow it); serving.py gives its CPU a row.

    python benchmarks/serving_instructions.py                 # 1000 requests a server, ~5 min
    python benchmarks/serving_instructions.py --requests 300  # a smoke run
    python benchmarks/serving_instructions.py --predict       # also bare and usina predict()

Needs valgrind (Debian's ``valgrind`` package).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import serving_servers as servers

BODY = json.dumps({"instances": [servers.ROW]}).encode()


def drive(port: int, path: str, n: int) -> None:
    """``n`` sequential requests on one keep-alive connection; each must answer 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        for _ in range(n):
            connection.request("POST", path, BODY, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}")
    finally:
        connection.close()


def count(
    name: str, command: list[str], env: dict[str, str], path: str, n: int, work: Path
) -> dict[str, int]:
    """Instructions per request of ``command``'s threads while it answers ``n`` requests."""
    port = servers.free_port()
    out = work / f"callgrind.{name.replace(' ', '')}"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes"]
    process = subprocess.Popen(
        [
            *valgrind,
            f"--callgrind-out-file={out}",
            *[c.replace("PORT", str(port)) for c in command],
        ],
        env={**env, "USINA_SERVE_PORT": str(port)},
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 900
        while True:
            try:
                drive(port, path, 1)
                break
            except (OSError, http.client.HTTPException):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start under valgrind") from None
                time.sleep(1)
        drive(port, path, 200)
        subprocess.run(
            ["callgrind_control", "-i", "on", str(process.pid)], check=True, capture_output=True
        )
        drive(port, path, n)
        subprocess.run(
            ["callgrind_control", "-i", "off", str(process.pid)], check=True, capture_output=True
        )
    finally:
        process.terminate()
        process.wait(300)
    threads: dict[str, int] = {}
    for part in sorted(work.glob(out.name + "*")):
        text = part.read_text(errors="replace")
        total = re.search(r"^totals:\s+(\d+)", text, re.M)
        if total and int(total.group(1)):
            threads[part.name.rsplit("-", 1)[-1]] = int(total.group(1)) // n
    return threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="Requests counted per server.")
    parser.add_argument(
        "--predict",
        action="store_true",
        help="Also count bare (model.predict) and usina predict() (no fast predictor).",
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    work = Path(tempfile.mkdtemp(prefix="usina-instructions-"))
    model = servers.train()
    model_path = work / "model.pkl"
    model_path.write_bytes(pickle.dumps(model))
    home = servers.prepare_usina(model, work)
    env = dict(os.environ)
    usina_env = {**env, **servers.usina_env(home), "USINA_SERVE_WORKERS": "1"}
    usina = shutil.which("usina", path=str(Path(sys.executable).parent)) or "usina"
    bare = [
        sys.executable,
        servers.__file__,
        "--bare",
        "PORT",
        str(model_path),
        "fast",
        "httptools",
    ]
    # (server, command, environment, path, the like-for-like server it is compared with)
    runs = [
        ("bare+fast", bare, env, "/predict", None),
        ("usina", [usina, "serve"], usina_env, "/v1/endpoints/bench:predict", "bare+fast"),
        (
            "usina -log",
            [usina, "serve"],
            usina_env,
            "/v1/endpoints/bench-nolog:predict",
            "bare+fast",
        ),
    ]
    if args.predict:
        predict_env = {**usina_env, "USINA_SERVE_FAST_PREDICT": "false"}
        runs += [
            ("bare", [*bare[:-2], "predict", bare[-1]], env, "/predict", None),
            (
                "usina predict()",
                [usina, "serve"],
                predict_env,
                "/v1/endpoints/bench:predict",
                "bare",
            ),
        ]
    print(f"instructions per request, {args.requests} requests at c=1 (callgrind)")
    print(f"{'server':<16} {'event loop':>11} {'other threads':>14} {'all':>9}  like for like")
    totals: dict[str, int] = {}
    for name, command, run_env, path, against in runs:
        threads = count(name, command, run_env, path, args.requests, work)
        main_thread = threads.get("01", 0)
        others = sum(v for k, v in threads.items() if k != "01")
        totals[name] = main_thread + others
        ratio = f"{totals[name] / totals[against]:.3f} of {against}" if against else ""
        print(f"{name:<16} {main_thread:>11,} {others:>14,} {totals[name]:>9,}  {ratio}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
