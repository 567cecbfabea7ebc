"""Submitting a compiled pipeline to Vertex AI Pipelines.

The pipeline is compiled to KFP v2 YAML (see :mod:`usina.pipelines.kfp`) and sent as one
``CreatePipelineJob`` request through the Vertex AI API client of google-cloud-aiplatform
(``usina[vertex]``), over its REST transport. Vertex runs the same YAML Kubeflow would.

Tested here up to the HTTP request it sends (the test answers at the transport, since Google
Cloud cannot be reached from the test machines); a real submission has not been exercised.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from usina.errors import InvalidInput, MissingDependency
from usina.pipelines.dsl import Pipeline
from usina.pipelines.kfp import compile_kfp

_REGION = re.compile(r"[a-z]+-[a-z]+[0-9]+")
_PROJECT = re.compile(r"[a-z][a-z0-9\-]{4,28}[a-z0-9]")


@dataclass(frozen=True)
class Submission:
    """A pipeline job Vertex AI accepted."""

    name: str
    job_id: str
    console_url: str


def submit_vertex(
    pipeline: Pipeline,
    *,
    project: str,
    region: str,
    image: str,
    pipeline_root: str,
    params: dict[str, Any] | None = None,
    ref: str | None = None,
    env: dict[str, str] | None = None,
    service_account: str | None = None,
    credentials: Any = None,
    job_id: str | None = None,
) -> Submission:
    """Compile ``pipeline`` and create a Vertex AI pipeline job from it.

    Args:
        project: the Google Cloud project id.
        region: the Vertex AI region, e.g. ``us-central1``.
        image: the container image the steps run in (see ``compile_kfp``).
        pipeline_root: a ``gs://`` folder where Vertex keeps the run's files.
        params: pipeline parameter values; defaults fill the rest.
        env: environment for every step; ``USINA_DB_URL`` and ``USINA_ARTIFACTS`` must name a
            database and a bucket the steps can reach.
        service_account: the account the steps run as.
        credentials: google-auth credentials; Application Default Credentials when omitted.
    """
    if not isinstance(project, str) or not _PROJECT.fullmatch(project):
        raise InvalidInput(
            f"--project {project!r} is not a Google Cloud project id", field="project"
        )
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise InvalidInput(
            f"--region {region!r} is not a Vertex AI region; e.g. us-central1 or europe-west4",
            field="region",
        )
    if not pipeline_root.startswith("gs://"):
        raise InvalidInput(
            f"--pipeline-root {pipeline_root!r} must be a gs:// folder Vertex AI can write to",
            field="pipeline_root",
        )
    values = pipeline.resolve_params(params or {})
    try:
        import yaml
        from google.cloud import aiplatform_v1
    except ImportError:
        raise MissingDependency(
            "submitting to Vertex AI needs google-cloud-aiplatform: pip install 'usina[vertex]'"
        ) from None
    with tempfile.TemporaryDirectory(prefix="usina-vertex-") as tmp:
        path = compile_kfp(pipeline, Path(tmp) / "pipeline.yaml", image=image, ref=ref, env=env)
        spec = yaml.safe_load(path.read_text())
    job_id = job_id or f"{pipeline.name}-{dt.datetime.now(dt.UTC).strftime('%Y%m%d%H%M%S')}"
    job: dict[str, Any] = {
        "displayName": pipeline.name,
        "pipelineSpec": spec,
        "labels": {"usina-pipeline": pipeline.name[:63]},
        "runtimeConfig": {"gcsOutputDirectory": pipeline_root, "parameterValues": values},
    }
    if service_account:
        job["serviceAccount"] = service_account
    import orjson

    client = aiplatform_v1.PipelineServiceClient(
        credentials=credentials,
        transport="rest",
        client_options={"api_endpoint": f"{region}-aiplatform.googleapis.com"},
    )
    created = client.create_pipeline_job(
        parent=f"projects/{project}/locations/{region}",
        pipeline_job=aiplatform_v1.PipelineJob.from_json(orjson.dumps(job).decode()),
        pipeline_job_id=job_id,
    )
    url = (
        f"https://console.cloud.google.com/vertex-ai/locations/{region}/pipelines/runs/"
        f"{job_id}?project={project}"
    )
    return Submission(created.name, job_id, url)
