"""Processes that register model versions, for concurrency and crash tests.

    python register_worker.py DB_URL ARTIFACTS

starts a parent that imports usina, scikit-learn and numpy once, then takes commands, one a
line, on its stdin:

- ``start N COUNT``: fork N worker processes; each registers COUNT versions of
  ``shared-model`` (each with distinct bytes), each from its own run with params and metrics.
  With COUNT ``forever``, each prints ``ready PID`` after its first version and keeps going
  until killed.
- ``wait PID``: wait for that worker to end and print ``ended PID STATUS`` (the exit code, or
  minus the signal that ended it, as ``subprocess`` gives it).
- ``wait all``: the same for every worker still unreported, in the order they were started.

A worker is a process of its own, with its own client, connections, and process id (its
actor is ``worker-PID``); forking it from a parent that has already imported everything
saves the five to seven seconds of CPU a fresh Python takes to import them (``skops.io``
alone, which the first registration imports, lists every scikit-learn estimator). The parent opens nothing
before it forks: no client, no connection, no thread.
"""

from __future__ import annotations

import os
import sys
import traceback

import numpy as np
import pyarrow  # noqa: F401 - imported by a registration too
import skops.io  # noqa: F401 - what registering a model imports first: seconds, paid once here
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression

from usina.client import Client


def register(db_url: str, artifacts: str, count: int | None) -> None:
    """Register ``count`` versions (``None``: until killed, saying ``ready`` after one)."""
    forever = count is None
    client = Client(db_url, artifacts, actor=f"worker-{os.getpid()}")
    rng = np.random.default_rng(os.getpid())
    x = rng.normal(size=(200, 5))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    # A large attribute makes each artifact write take long enough to be interrupted.
    model.noise_ = rng.normal(size=50_000 if forever else 10)
    i = 0
    while count is None or i < count:
        model.noise_[0] = i
        with client.start_run("workers", params={"pid": os.getpid(), "i": i}) as run:
            run.log_metrics({"loss": 1.0 / (i + 1)}, step=i)
            client.register_model(model, "shared-model", run=run, input_example=x[:2])
        i += 1
        if forever and i == 1:
            os.write(1, f"ready {os.getpid()}\n".encode())  # one write: workers share the pipe
    client.close()


def fork_worker(db_url: str, artifacts: str, count: int | None) -> int:
    """Start one worker process; return its pid (in the parent)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        with open(os.devnull) as nothing:  # the parent's commands are not the worker's
            os.dup2(nothing.fileno(), 0)
        register(db_url, artifacts, count)
        code = 0
    except BaseException:  # noqa: BLE001 - a worker reports any failure and exits 1
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def status(pid: int) -> int:
    _, raw = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(raw)


def main() -> None:
    db_url, artifacts = sys.argv[1], sys.argv[2]
    # The database's driver and the dialect are imported by making an engine, which connects
    # only when first used: it is dropped unused.
    sa.create_engine(db_url).dispose()
    unreported: list[int] = []
    for line in sys.stdin:
        command, *args = line.split()
        if command == "start":
            n, count = int(args[0]), None if args[1] == "forever" else int(args[1])
            unreported += [fork_worker(db_url, artifacts, count) for _ in range(n)]
        elif command == "wait":
            pids = list(unreported) if args[0] == "all" else [int(args[0])]
            for pid in pids:
                print(f"ended {pid} {status(pid)}", flush=True)
                unreported.remove(pid)
        else:
            raise SystemExit(f"unknown command {line!r}")


if __name__ == "__main__":
    main()
