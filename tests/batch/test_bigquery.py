"""``export_bigquery`` sends BigQuery one load job with the partition's rows as Parquet.

BigQuery cannot be reached from here, so it is faked at its transport: a loopback HTTP server
answers the client's requests as BigQuery does (the resumable upload that creates the load job:
the job, then the bytes at the session's URL; a multipart upload; then the job's reads), and
keeps every request for the assertions.
"""

from __future__ import annotations

import email.parser
import email.policy
import http.server
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from batch.conftest import CHAMPION, Scenario, applicants, write_parquet
from usina.batch import export_bigquery, run
from usina.errors import InvalidInput, NotFound

bigquery = pytest.importorskip("google.cloud.bigquery", reason="the bigquery extra is missing")


@dataclass
class Load:
    """One load job the fake received: its configuration and the uploaded bytes."""

    job: dict[str, Any]
    data: bytes


@dataclass
class FakeBigQuery:
    url: str
    loads: list[Load] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    sessions: dict[str, tuple[dict[str, Any], bytearray]] = field(default_factory=dict)


def _handler(fake: FakeBigQuery) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            fake.requests.append(("POST", self.path))
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if not self.path.startswith("/upload/bigquery/v2/projects/acme-ml/jobs?"):
                self._answer(404, {"error": {"code": 404, "message": f"no {self.path}"}})
                return
            if "uploadType=resumable" in self.path:
                # A resumable upload starts with the job; the bytes follow at the session URL.
                session = f"session-{len(fake.sessions)}"
                fake.sessions[session] = (json.loads(body), bytearray())
                self.send_response(200)
                self.send_header("Location", f"{fake.url}/upload/sessions/{session}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            raw = b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
            meta, payload = list(message.iter_parts())
            self._created(
                json.loads(meta.get_payload(decode=True)), payload.get_payload(decode=True)
            )

        def do_PUT(self) -> None:
            fake.requests.append(("PUT", self.path))
            body = self.rfile.read(int(self.headers["Content-Length"]))
            job, data = fake.sessions[self.path.rsplit("/", 1)[-1]]
            data += body
            # Content-Range: bytes FIRST-LAST/TOTAL (TOTAL is * until the last chunk).
            total = self.headers["Content-Range"].rsplit("/", 1)[-1]
            if total != "*" and len(data) == int(total):
                self._created(job, bytes(data))
                return
            self.send_response(308)
            self.send_header("Range", f"bytes=0-{len(data) - 1}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _created(self, job: dict[str, Any], data: bytes) -> None:
            fake.loads.append(Load(job, data))
            reference = job["jobReference"]
            done = {
                **job,
                "id": f"{reference['projectId']}:US.{reference['jobId']}",
                "jobReference": {**reference, "location": "US"},
                "status": {"state": "DONE"},
                "statistics": {"creationTime": "1", "startTime": "1", "endTime": "2"},
            }
            fake.jobs[reference["jobId"]] = done
            self._answer(200, done)

        def do_GET(self) -> None:
            fake.requests.append(("GET", self.path))
            job_id = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
            if job_id in fake.jobs:
                self._answer(200, fake.jobs[job_id])
            else:
                self._answer(404, {"error": {"code": 404, "message": f"no job {job_id}"}})

    return Handler


@pytest.fixture
def fake_bigquery() -> Iterator[FakeBigQuery]:
    fake = FakeBigQuery("")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(10)


def bq_client(fake: FakeBigQuery) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project="acme-ml",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=fake.url),
    )


def scored(scenario: Scenario, tmp_path: Path) -> None:
    source = write_parquet(applicants(500), tmp_path / "in.parquet")
    for day in ("2026-12-01", "2026-12-02"):
        run("j", CHAMPION, str(source), "scores", {"run_date": day}, ["id"], client=scenario.client)
    run("j", CHAMPION, str(source), "by_region", {"region": "sp"}, ["id"], client=scenario.client)


def test_a_date_partition_is_loaded_into_its_day_replacing_it(
    scenario: Scenario, tmp_path: Path, fake_bigquery: FakeBigQuery
) -> None:
    scored(scenario, tmp_path)
    done = export_bigquery(
        scenario.client.artifacts,
        "scores",
        {"run_date": "2026-12-02"},
        "bigquery:acme-ml.analytics.credit_scores",
        bigquery_client=bq_client(fake_bigquery),
    )
    assert (done.rows, done.destination) == (500, "acme-ml.analytics.credit_scores$20261202")
    assert done.job_id in fake_bigquery.jobs
    (load,) = fake_bigquery.loads
    config = load.job["configuration"]["load"]
    assert config["destinationTable"] == {
        "projectId": "acme-ml",
        "datasetId": "analytics",
        "tableId": "credit_scores$20261202",
    }
    assert config["sourceFormat"] == "PARQUET"
    assert config["writeDisposition"] == "WRITE_TRUNCATE"
    assert config["timePartitioning"] == {"type": "DAY", "field": "run_date"}

    # The uploaded Parquet holds the partition's rows, the day as a DATE.
    sent = pq.read_table(io.BytesIO(load.data)).to_pandas()
    want = scenario.table("scores")
    want = want[want.run_date == "2026-12-02"].reset_index(drop=True)
    assert str(sent.run_date.iloc[0]) == "2026-12-02"
    sent = sent.assign(run_date=sent.run_date.astype(str)).sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(sent, want[list(sent.columns)], check_dtype=False)


def test_append_and_a_partition_that_is_not_a_date(
    scenario: Scenario, tmp_path: Path, fake_bigquery: FakeBigQuery
) -> None:
    scored(scenario, tmp_path)
    export_bigquery(
        scenario.client.artifacts,
        "by_region",
        {"region": "sp"},
        "acme-ml.analytics.by_region",
        write_disposition="append",
        bigquery_client=bq_client(fake_bigquery),
    )
    config = fake_bigquery.loads[0].job["configuration"]["load"]
    assert config["destinationTable"]["tableId"] == "by_region"
    assert config["writeDisposition"] == "WRITE_APPEND"
    assert "timePartitioning" not in config
    assert len(pq.read_table(io.BytesIO(fake_bigquery.loads[0].data))) == 500


def test_bad_exports_are_refused_before_any_request(
    scenario: Scenario, tmp_path: Path, fake_bigquery: FakeBigQuery
) -> None:
    scored(scenario, tmp_path)
    store, client = scenario.client.artifacts, bq_client(fake_bigquery)
    day = {"run_date": "2026-12-01"}
    with pytest.raises(InvalidInput, match=r"bigquery:PROJECT\.DATASET\.TABLE") as bad:
        export_bigquery(store, "scores", day, "acme-ml.credit_scores", bigquery_client=client)
    assert bad.value.field == "to"
    with pytest.raises(InvalidInput) as bad:
        export_bigquery(
            store, "scores", day, "a-b.c.d", write_disposition="empty", bigquery_client=client
        )
    assert bad.value.field == "write_disposition"
    with pytest.raises(NotFound, match="no published files") as missing:
        export_bigquery(
            store, "scores", {"run_date": "2027-01-01"}, "a-b.c.d", bigquery_client=client
        )
    assert missing.value.field == "partition"
    assert fake_bigquery.requests == []
