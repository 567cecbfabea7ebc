"""Conformance suites every backend must pass, for usina's own backends and third parties.

>>> from usina.testing import check_artifact_store
>>> from usina.artifacts.memory import MemoryArtifactStore
>>> check_artifact_store(MemoryArtifactStore)

``check_tracking_store``, ``check_registry_store``, ``check_endpoint_store``,
``check_pipeline_store``, ``check_schedule_store``, ``check_audit_store``,
``check_identity_store``, ``check_alert_store``, ``check_label_store``, ``check_monitor_store``,
``check_batch_job_store``, ``check_topic_store``, ``check_secret_store``,
``check_dataset_store`` and ``check_policy_store`` take a factory of fresh ``usina.Client``
objects, so the same checks run on the SQL stores and, through a server, on the HTTP stores.
``check_topic_log`` takes a factory of topic logs, and runs on every log backend.
"""

from usina.testing.alerts import check_alert_store
from usina.testing.artifacts import TRAVERSAL_KEYS, check_artifact_store
from usina.testing.audit import check_audit_store
from usina.testing.batch import check_batch_job_store
from usina.testing.datasets import check_dataset_store
from usina.testing.endpoints import check_endpoint_store
from usina.testing.identity import check_identity_store
from usina.testing.monitoring import check_label_store, check_monitor_store
from usina.testing.pipelines import check_pipeline_store, check_schedule_store
from usina.testing.policies import check_policy_store
from usina.testing.registry import check_model_round_trip, check_registry_store
from usina.testing.secrets import check_secret_store
from usina.testing.topics import check_topic_log, check_topic_store
from usina.testing.tracking import check_tracking_store

__all__ = [
    "TRAVERSAL_KEYS",
    "check_alert_store",
    "check_artifact_store",
    "check_audit_store",
    "check_batch_job_store",
    "check_dataset_store",
    "check_endpoint_store",
    "check_identity_store",
    "check_label_store",
    "check_model_round_trip",
    "check_monitor_store",
    "check_pipeline_store",
    "check_policy_store",
    "check_registry_store",
    "check_schedule_store",
    "check_secret_store",
    "check_topic_log",
    "check_topic_store",
    "check_tracking_store",
]
