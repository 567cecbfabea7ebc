"""The price of access control on predict: ``usina serve`` with ``USINA_AUTH=on`` against the
same server with it off, side by side in one run.

Both servers serve the one-row model of ``benchmarks/serving.py`` from one database, one worker
each, as shipped (every request in the request log). With auth on, each request carries the
bearer token of a service account bound to the ``inference`` role, which the server checks
(token, expiry, revocation at most a second old, the role's permission on the endpoint) and
whose refusals it would audit. ``--audit-reads`` adds a third server that also writes an audit
record of every predict (``USINA_AUDIT_DATA_READS=on``).

The sides are compared as paired rounds (see serving.py): in each of ``--pairs`` rounds the
two run back to back for ``--pair-duration`` seconds at c=1 and c=32, alternating which goes
first; the output gives the median of (auth on) / (auth off) and its spread.

    python benchmarks/serving_auth.py                  # about 4 minutes
    python benchmarks/serving_auth.py --pin            # servers on CPU 0, wrk on CPU 1
    python benchmarks/serving_auth.py --audit-reads    # about 8 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import serving_servers as servers
from serving import paired
from serving_servers import Target, wrk

PATH = "/v1/endpoints/bench:predict"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10, help="Alternating paired rounds.")
    parser.add_argument("--pair-duration", type=float, default=5.0, help="Seconds per run.")
    parser.add_argument(
        "--audit-reads", action="store_true", help="Also price an audit record per predict."
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="Run every server (and its log writer) on CPU 0 and wrk on CPU 1, so the sides "
        "do not differ by where the scheduler puts them.",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    from usina.client import Client

    print(f"load average at start: {servers.load_average()}", file=sys.stderr)
    if args.pin:
        servers.SERVER_CPUS, servers.WRK_CPUS = "0", "1"
    model = servers.train()
    with tempfile.TemporaryDirectory(prefix="usina-bench-auth-") as tmp:
        workdir = Path(tmp)
        home = servers.prepare_usina(model, workdir)
        settings = servers.usina_env(home)
        client = Client(settings["USINA_DB_URL"], settings["USINA_ARTIFACTS"])
        client.identity.create_principal("service-account", "scorer")
        client.identity.bind("service-account:scorer", "inference")
        token = client.identity.issue_token("service-account:scorer", 3600).secret
        client.close()
        body = json.dumps({"instances": [servers.ROW]}).encode()
        usina = shutil.which("usina", path=str(Path(sys.executable).parent)) or "usina"
        sides = [("auth off", {"USINA_AUTH": "off"}), ("auth on", {"USINA_AUTH": "on"})]
        if args.audit_reads:
            sides.append(
                ("auth on, reads audited", {"USINA_AUTH": "on", "USINA_AUDIT_DATA_READS": "on"})
            )
        targets: list[Target] = []
        try:
            for name, extra in sides:
                port = servers.free_port()
                env = {
                    **os.environ,
                    **settings,
                    **extra,
                    "USINA_SERVE_PORT": str(port),
                    "USINA_SERVE_WORKERS": "1",
                }
                process = subprocess.Popen(
                    servers.pinned([usina, "serve"]),
                    env=env,
                    cwd=workdir,
                    stdout=subprocess.DEVNULL,
                )
                url = f"http://127.0.0.1:{port}"
                headers = (
                    (("Authorization", f"Bearer {token}"),) if extra["USINA_AUTH"] == "on" else ()
                )
                target = Target(name, f"{url}{PATH}", body, process, headers)
                deadline = time.monotonic() + 120
                while True:  # ready when a predict with the side's headers answers 200
                    try:
                        if wrk(target, 1, 1, workdir).requests > 0:
                            break
                    except subprocess.CalledProcessError:
                        pass
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{name} did not start")
                    time.sleep(0.5)
                targets.append(target)
            for t in targets:
                wrk(t, 4, 2, workdir)
            results = []
            for other in targets[1:]:
                for c in (1, 32):
                    results.append(paired(targets[0], other, c, args, workdir, ()))
        finally:
            for t in targets:
                servers.stop(t.process)
    print(f"load average at end: {servers.load_average()}", file=sys.stderr)
    print("predict throughput, auth on / auth off (paired medians; goal: at most 5% lower)")
    for r in results:
        cost = 1 - r["median"]
        cpu = r["server_cpu_us_per_request"]
        print(
            f"  {r['b']:<24} c={r['concurrency']:<3} ratio {r['median']:.3f} "
            f"(IQR {r['q1']:.3f} to {r['q3']:.3f}; {r['rounds']} rounds)  cost {cost:+.1%}  "
            f"server CPU {cpu.get(r['a'], 0):.0f} vs {cpu.get(r['b'], 0):.0f} µs/request  "
            f"{'met' if cost <= 0.05 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
