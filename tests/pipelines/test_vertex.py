"""Vertex AI submission, up to the HTTP request it sends (Google Cloud is not reachable here).

The fake answers at the transport (requests' adapter), the one boundary the test cannot cross.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from resources import pipelines as p
from resources.requirements import require_extra
from usina.errors import InvalidInput
from usina.pipelines.vertex import submit_vertex

require_extra("google.cloud.aiplatform_v1", "vertex")


@pytest.fixture
def vertex_transport(monkeypatch) -> list[Any]:  # type: ignore[no-untyped-def]
    """Every HTTP request the process sends, answered as Vertex AI would answer a create."""
    import requests
    from requests.adapters import HTTPAdapter

    sent: list[Any] = []

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(request)
        response = requests.Response()
        response.request, response.url, response.status_code = request, request.url, 200
        body = json.loads(request.body)
        job_id = request.url.split("pipelineJobId=")[1].split("&")[0]
        body["name"] = f"projects/123/locations/us-central1/pipelineJobs/{job_id}"
        body["state"] = "PIPELINE_STATE_PENDING"
        response._content = json.dumps(body).encode()
        response.headers["content-type"] = "application/json"
        return response

    monkeypatch.setattr(HTTPAdapter, "send", send)
    return sent


def test_submit_sends_one_create_pipeline_job_request(vertex_transport) -> None:
    from google.auth.credentials import AnonymousCredentials

    submitted = submit_vertex(
        p.chain,
        project="credit-risk-prod",
        region="us-central1",
        image="europe-docker.pkg.dev/credit-risk-prod/ml/usina:1",
        pipeline_root="gs://credit-risk-pipelines/root",
        params={"workdir": "/data", "factor": 3.0},
        ref="src/pipeline.py:chain",
        env={
            "USINA_DB_URL": "postgresql+psycopg://usina@10.0.0.5/usina",
            "USINA_ARTIFACTS": "gs://credit-risk-artifacts",
        },
        service_account="pipelines@credit-risk-prod.iam.gserviceaccount.com",
        credentials=AnonymousCredentials(),
        job_id="chain-test-1",
    )
    [request] = vertex_transport
    assert request.method == "POST"
    assert request.url.startswith(
        "https://us-central1-aiplatform.googleapis.com/v1/projects/credit-risk-prod/locations/"
        "us-central1/pipelineJobs?pipelineJobId=chain-test-1"
    )
    body = json.loads(request.body)
    assert body["displayName"] == "chain"
    assert body["serviceAccount"] == "pipelines@credit-risk-prod.iam.gserviceaccount.com"
    assert body["runtimeConfig"]["gcsOutputDirectory"] == "gs://credit-risk-pipelines/root"
    assert body["runtimeConfig"]["parameterValues"] == {"workdir": "/data", "factor": 3.0, "n": 40}
    spec = body["pipelineSpec"]
    assert spec["pipelineInfo"]["name"] == "chain"
    assert set(spec["root"]["dag"]["tasks"]) == {f"step-{n}" for n in p.chain.graph.nodes}
    executor = spec["deploymentSpec"]["executors"]["exec-step-load"]["container"]
    assert executor["image"] == "europe-docker.pkg.dev/credit-risk-prod/ml/usina:1"
    assert "run_step('src/pipeline.py:chain', 'load'" in " ".join(
        executor["args"] + executor["command"]
    )
    assert submitted.name == "projects/123/locations/us-central1/pipelineJobs/chain-test-1"


def test_bad_submission_settings_name_the_option(vertex_transport) -> None:
    kwargs: dict[str, Any] = {
        "image": "python:3.11",
        "pipeline_root": "gs://b/r",
        "params": {"workdir": "/w"},
    }
    with pytest.raises(InvalidInput, match="--region 'us central'") as info:
        submit_vertex(p.chain, project="credit-risk-prod", region="us central", **kwargs)
    assert info.value.field == "region"
    with pytest.raises(InvalidInput, match="--pipeline-root '/tmp/x' must be a gs:// folder"):
        submit_vertex(
            p.chain,
            project="credit-risk-prod",
            region="us-central1",
            image="python:3.11",
            pipeline_root="/tmp/x",
        )
    assert vertex_transport == []
