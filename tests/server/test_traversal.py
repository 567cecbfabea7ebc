"""Every artifact route refuses the traversal corpus; a canary outside the root is never read
or written. Requests go out as raw bytes, so no client normalizes the path first."""

from __future__ import annotations

import http.client
import os
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest

from usina.testing import TRAVERSAL_KEYS

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

SECRET = b"canary-secret-never-served"

# Written as they go on the wire: ../, encoded and double-encoded dots and slashes, backslashes,
# absolute paths, and ; # ? in every form.
RAW = [
    "../canary.txt",
    "../../canary.txt",
    "a/../../canary.txt",
    "..%2fcanary.txt",
    "..%2Fcanary.txt",
    "%2e%2e/canary.txt",
    "%2e%2e%2fcanary.txt",
    "%252e%252e%252fcanary.txt",
    "..%252fcanary.txt",
    "%25%32%65%25%32%65/canary.txt",
    "..\\canary.txt",
    "..%5ccanary.txt",
    "..%255ccanary.txt",
    "%c0%ae%c0%ae/canary.txt",
    "%ef%bc%8e%ef%bc%8e/canary.txt",
    "/{absolute}",
    "%2f{absolute_encoded}",
    "..;/canary.txt",
    "..%3b/canary.txt",
    "canary.txt;../../canary.txt",
    "..%23/canary.txt",
    "..#/canary.txt",
    "../canary.txt#x",
    "..%3f/canary.txt",
    "..?/canary.txt",
    "../canary.txt?x=1",
    "%00../canary.txt",
]


def corpus(canary: Path) -> list[str]:
    absolute = str(canary).lstrip("/")
    raw = [r.format(absolute=absolute, absolute_encoded=quote(absolute, safe="")) for r in RAW]
    encoded = [quote(k, safe="") for k in TRAVERSAL_KEYS if k] + [
        quote(k, safe="/") for k in TRAVERSAL_KEYS if k
    ]
    return raw + encoded


def raw_request(url: str, method: str, target: str, body: bytes | None = None) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", f"127.0.0.1:{parts.port}")
        if body is not None:
            conn.putheader("Content-Type", "application/octet-stream")
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read()
    except (http.client.HTTPException, ConnectionError):
        return 400, b""  # the server dropped a request it could not parse: refused too
    finally:
        conn.close()


def snapshot(folder: Path, skip: Path) -> dict[str, tuple[int, float]]:
    found = {}
    for dirpath, _dirs, files in os.walk(folder):
        if Path(dirpath).is_relative_to(skip):
            continue
        for name in files:
            path = Path(dirpath, name)
            if name.startswith("usina.db"):
                continue
            stat = path.stat()
            found[str(path)] = (stat.st_size, stat.st_mtime)
    return found


def test_artifact_routes_refuse_the_traversal_corpus(live_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    canary = tmp_path / "canary.txt"
    canary.write_bytes(SECRET)
    live_server.artifacts.mkdir(parents=True, exist_ok=True)
    (live_server.artifacts / "inside.txt").write_bytes(b"inside")
    with httpx.Client(base_url=live_server.url) as api:
        run = api.post("/api/v1/runs", json={"experiment": "t"}).json()["id"]
    before = snapshot(tmp_path, live_server.artifacts)
    atime = canary.stat().st_atime_ns

    targets = []
    for key in corpus(canary):
        for method, body in (
            ("GET", None),
            ("HEAD", None),
            ("PUT", b"overwritten"),
            ("DELETE", None),
        ):
            targets.append((method, f"/api/v1/artifacts/{key}", body))
        targets.append(("GET", f"/api/v1/artifacts?prefix={key}", None))
        targets.append(("GET", f"/api/v1/runs/{run}/artifacts/{key}", None))

    for method, target, body in targets:
        status, content = raw_request(live_server.url, method, target, body)
        assert SECRET not in content, f"{method} {target} served the canary"
        if "?prefix=" in target and status == 200:
            # Some corpus entries ("a/") are fine folder prefixes: they must list nothing.
            assert b'"items":[]' in content, f"{method} {target} listed {content[:200]!r}"
            continue
        assert 400 <= status < 500, f"{method} {target} answered {status}"

    # The run's artifact record refuses the same keys (as JSON, no URL decoding involved).
    with httpx.Client(base_url=live_server.url) as api:
        for key in TRAVERSAL_KEYS:
            response = api.post(
                f"/api/v1/runs/{run}/artifacts", json={"path": key, "digest": "0" * 64, "size": 1}
            )
            assert response.status_code in (400, 422), (key, response.text)

    assert canary.stat().st_atime_ns == atime or _noatime(tmp_path), "the canary was never read"
    assert snapshot(tmp_path, live_server.artifacts) == before, "nothing outside the root changed"
    assert canary.read_bytes() == SECRET
    assert (live_server.artifacts / "inside.txt").read_bytes() == b"inside"


def _noatime(folder: Path) -> bool:
    """Whether the filesystem skips access-time updates (then the body check above stands alone)."""
    probe = folder / "atime-probe"
    probe.write_bytes(b"x")
    before = probe.stat().st_atime_ns
    os.utime(probe, ns=(before - 10**9, probe.stat().st_mtime_ns))
    before = probe.stat().st_atime_ns
    probe.read_bytes()
    return probe.stat().st_atime_ns == before
