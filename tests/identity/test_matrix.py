"""The permission matrix of every route: each predefined role against every entry of
``usina.identity.permissions.ROUTES``, on its own resource and on a foreign one, on a live
``usina server`` with USINA_AUTH=on (and the inference routes again on ``usina serve``'s app).
The expected answers are the table ``MATRIX`` below; the table lists exactly the routes the
apps answer, so a new route fails here until its row is written."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from resources.routes import app_routes
from resources.servers import ThreadServer
from usina.artifacts import blob_key, open_artifact_store
from usina.identity import SqlIdentityStore
from usina.identity.gate import VERDICT, Verdict
from usina.identity.permissions import AUTHENTICATED, METRICS, PUBLIC, ROLES, ROUTES
from usina.server import ServerConfig, create_app
from usina.store import Database
from usina.tracking import SqlTrackingStore

OWN, FOREIGN = "own", "other"
SIDES = (OWN, FOREIGN)
# Each role is held by two service accounts: ROLE@ws, bound on the workspace, and ROLE@own,
# bound only on these resources (a run belongs to its experiment: runs of ``experiments/own``
# are its own, runs of ``experiments/other`` foreign).
BOUND_ON = (
    "experiments/own",
    "models/own",
    "endpoints/own",
    "schedules/own",
    "monitors/own",
    "secrets/own",
)
ROLE_ORDER = tuple(ROLES)

# The matrix, as data: (method, route template) -> the answers, seven on the own side, then
# seven on the foreign side, in ROLE_ORDER (viewer, data-scientist, data-engineer, ml-engineer,
# admin, inference, training). "ok" means the guard let the request through (the route then
# answers what the data gives: 2xx, or its own 4xx); a number is the exact status.
#
# - A route that names a resource (kind/NAME, or a run of an experiment) is called by ROLE@own
#   on the own resource, then on the foreign one; ROLE@ws must get on the foreign resource what
#   ROLE@own gets on its own (checked without a column of its own).
# - A route that names none (lists, creations, identity) is called by ROLE@ws ("own"), then by
#   ROLE@own ("foreign"): a binding on a resource never grants the workspace-wide form.
#
# A refusal on a resource answers 404 when the role holds nothing of that kind there (it cannot
# learn the resource exists), 403 when it holds something there but not this permission.
# fmt: off
MATRIX: dict[tuple[str, str], str] = {
    #                                                                                      own: vie ds  de  ml  adm inf tra | foreign: the same roles
    # tracking
    ("GET", "/api/v1/experiments"):                                                        "ok  ok  ok  ok  ok  403 ok  | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/runs"):                                                              "403 ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("GET", "/api/v1/runs"):                                                               "ok  ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("GET", "/api/v1/runs/{run_id}"):                                                      "ok  ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("POST", "/api/v1/runs/{run_id}/batch"):                                               "403 ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("POST", "/api/v1/runs/{run_id}/artifacts"):                                           "403 ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("GET", "/api/v1/runs/{run_id}/artifacts/{path:path}"):                                "ok  ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("POST", "/api/v1/runs/{run_id}/inputs"):                                              "403 ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("POST", "/api/v1/runs/{run_id}/heartbeat"):                                           "403 ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("POST", "/api/v1/runs/{run_id}/end"):                                                 "403 ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("GET", "/api/v1/runs/{run_id}/metrics/{key:path}"):                                   "ok  ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    # registry
    ("GET", "/api/v1/models"):                                                             "ok  ok  ok  ok  ok  403 ok  | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/models/{name}"):                                                      "ok  ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("POST", "/api/v1/models/{name}/versions"):                                            "403 ok  403 ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("GET", "/api/v1/models/{name}/versions"):                                             "ok  ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("GET", "/api/v1/models/{name}/latest"):                                               "ok  ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("GET", "/api/v1/models/{name}/versions/{version}"):                                   "ok  ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("GET", "/api/v1/models/{name}/versions/{version}/lineage"):                           "ok  ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("GET", "/api/v1/models/{name}/aliases/{alias}"):                                      "ok  ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("PUT", "/api/v1/models/{name}/aliases/{alias}"):                                      "403 403 403 ok  ok  404 403 | 404 404 404 404 404 404 404",
    ("DELETE", "/api/v1/models/{name}/aliases/{alias}"):                                   "403 403 403 ok  ok  404 403 | 404 404 404 404 404 404 404",
    ("POST", "/api/v1/models/{name}/aliases/{alias}/rollback"):                            "403 403 403 ok  ok  404 403 | 404 404 404 404 404 404 404",
    ("GET", "/api/v1/models/{name}/history"):                                              "ok  ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    # artifacts
    ("GET", "/api/v1/artifacts"):                                                          "ok  ok  ok  ok  ok  403 ok  | 403 403 403 403 403 403 403",
    ("PUT", "/api/v1/artifacts/{key:path}"):                                               "403 ok  ok  ok  ok  403 ok  | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/artifacts/{key:path}"):                                               "ok  ok  ok  ok  ok  403 ok  | 403 403 403 403 403 403 403",
    ("HEAD", "/api/v1/artifacts/{key:path}"):                                              "ok  ok  ok  ok  ok  403 ok  | 403 403 403 403 403 403 403",
    ("DELETE", "/api/v1/artifacts/{key:path}"):                                            "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    # endpoints (management)
    ("GET", "/api/v1/endpoints"):                                                          "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/endpoints"):                                                         "403 403 403 ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/endpoints/{name}"):                                                   "ok  ok  ok  ok  ok  403 404 | 404 404 404 404 404 404 404",
    ("PATCH", "/api/v1/endpoints/{name}"):                                                 "403 403 403 ok  ok  403 404 | 404 404 404 404 404 404 404",
    ("DELETE", "/api/v1/endpoints/{name}"):                                                "403 403 403 ok  ok  403 404 | 404 404 404 404 404 404 404",
    ("PUT", "/api/v1/endpoints/{name}/split"):                                             "403 403 403 ok  ok  403 404 | 404 404 404 404 404 404 404",
    ("PUT", "/api/v1/endpoints/{name}/follow"):                                            "403 403 403 ok  ok  403 404 | 404 404 404 404 404 404 404",
    ("PUT", "/api/v1/endpoints/{name}/shadow"):                                            "403 403 403 ok  ok  403 404 | 404 404 404 404 404 404 404",
    ("PUT", "/api/v1/endpoints/{name}/log-policy"):                                        "403 403 403 ok  ok  403 404 | 404 404 404 404 404 404 404",
    ("DELETE", "/api/v1/endpoints/{name}/log-policy"):                                     "403 403 403 ok  ok  403 404 | 404 404 404 404 404 404 404",
    ("GET", "/api/v1/endpoints/{name}/stats"):                                             "ok  ok  ok  ok  ok  403 404 | 404 404 404 404 404 404 404",
    # pipelines
    ("POST", "/api/v1/pipeline-runs"):                                                     "403 ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/pipeline-runs"):                                                      "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/pipeline-runs/{run_id}"):                                             "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/pipeline-runs/{run_id}/end"):                                        "403 ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/step-runs"):                                                         "403 ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/step-runs"):                                                          "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/step-runs/{step_run_id}"):                                            "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/step-runs/{step_run_id}/links"):                                      "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/artifact-use/{digest}"):                                              "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    # schedules
    ("POST", "/api/v1/schedules"):                                                         "403 403 ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/schedules"):                                                          "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/schedules/{name}"):                                                   "ok  ok  ok  ok  ok  404 404 | 404 404 404 404 404 404 404",
    ("POST", "/api/v1/schedules/{name}/pause"):                                            "403 403 ok  ok  ok  404 404 | 404 404 404 404 404 404 404",
    ("POST", "/api/v1/schedules/{name}/resume"):                                           "403 403 ok  ok  ok  404 404 | 404 404 404 404 404 404 404",
    ("DELETE", "/api/v1/schedules/{name}"):                                                "403 403 ok  ok  ok  404 404 | 404 404 404 404 404 404 404",
    ("GET", "/api/v1/schedule-fires"):                                                     "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/scheduler/lease"):                                                   "403 403 ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("DELETE", "/api/v1/scheduler/lease/{holder}"):                                        "403 403 ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/schedules/{name}/claims"):                                           "403 403 ok  ok  ok  404 404 | 404 404 404 404 404 404 404",
    ("POST", "/api/v1/schedules/{name}/fires"):                                            "403 403 ok  ok  ok  404 404 | 404 404 404 404 404 404 404",
    # audit log
    ("GET", "/api/v1/audit"):                                                              "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/audit/verify"):                                                       "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    # monitoring: labels, monitors and their runs
    ("POST", "/api/v1/endpoints/{name}/labels"):                                           "403 ok  ok  ok  ok  403 404 | 404 404 404 404 404 404 404",
    ("GET", "/api/v1/endpoints/{name}/labels"):                                            "ok  ok  ok  ok  ok  403 404 | 404 404 404 404 404 404 404",
    ("POST", "/api/v1/monitors"):                                                          "403 ok  403 ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/monitors"):                                                           "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/monitors/{name}"):                                                    "ok  ok  ok  ok  ok  404 404 | 404 404 404 404 404 404 404",
    ("DELETE", "/api/v1/monitors/{name}"):                                                 "403 ok  403 ok  ok  404 404 | 404 404 404 404 404 404 404",
    ("POST", "/api/v1/monitors/{name}/runs"):                                              "403 ok  403 ok  ok  404 404 | 404 404 404 404 404 404 404",
    ("GET", "/api/v1/monitors/{name}/runs"):                                               "ok  ok  ok  ok  ok  404 404 | 404 404 404 404 404 404 404",
    # policies (workspace-wide: a policy acts on a monitor, a pipeline, a model and an endpoint)
    ("POST", "/api/v1/policies/apply"):                                                    "403 403 403 ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/policies"):                                                           "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/policies/{name}"):                                                    "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("DELETE", "/api/v1/policies/{name}"):                                                 "403 403 403 ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/policies/{name}/rollout"):                                            "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/policies/{name}/transitions"):                                       "403 403 403 ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/events"):                                                             "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    # alerts
    ("GET", "/api/v1/alerts"):                                                             "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/alerts/{alert_id}"):                                                  "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/alerts/observations"):                                               "403 403 ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/alerts/{alert_id}/deliveries"):                                      "403 403 ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    # batch jobs
    ("GET", "/api/v1/batch/jobs"):                                                         "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/batch/jobs/{job_id}"):                                                "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/batch/jobs"):                                                        "403 403 ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/batch/jobs/{job_id}/heartbeat"):                                     "403 403 ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/batch/jobs/{job_id}/end"):                                           "403 403 ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    # PII
    ("POST", "/api/v1/pii:reidentify"):                                                    "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    # topics
    ("GET", "/api/v1/topics"):                                                             "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/topics"):                                                            "403 403 ok  403 ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/topics/{name}"):                                                      "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("DELETE", "/api/v1/topics/{name}"):                                                   "403 403 ok  403 ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/topics/{name}:publish"):                                             "403 403 ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/topics/{name}:poll"):                                                "403 ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/topics/{name}:commit"):                                              "403 ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/topics/{name}:seek"):                                                "403 ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    # secrets (admin only among the predefined roles; one secret may be bound, secrets/NAME)
    ("GET", "/api/v1/secrets"):                                                            "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/secrets/{name}"):                                                     "404 404 404 404 ok  404 404 | 404 404 404 404 404 404 404",
    ("GET", "/api/v1/secrets/{name}/value"):                                               "404 404 404 404 ok  404 404 | 404 404 404 404 404 404 404",
    ("PUT", "/api/v1/secrets/{name}"):                                                     "404 404 404 404 ok  404 404 | 404 404 404 404 404 404 404",
    ("DELETE", "/api/v1/secrets/{name}"):                                                  "404 404 404 404 ok  404 404 | 404 404 404 404 404 404 404",
    # datasets
    ("GET", "/api/v1/datasets"):                                                           "ok  ok  ok  ok  ok  403 ok  | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/datasets/{name}"):                                                    "ok  ok  ok  ok  ok  403 ok  | 403 403 403 403 403 403 403",
    ("PUT", "/api/v1/datasets/{name}/expectations"):                                       "403 ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("PUT", "/api/v1/datasets/{name}/policy"):                                             "403 ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("DELETE", "/api/v1/datasets/{name}/policy"):                                          "403 ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/datasets/{name}/versions"):                                           "ok  ok  ok  ok  ok  403 ok  | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/datasets/{name}/versions/{version}"):                                 "ok  ok  ok  ok  ok  403 ok  | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/datasets/{name}/versions"):                                          "403 ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    # identity
    ("GET", "/api/v1/users"):                                                              "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/users"):                                                             "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/users/{name}"):                                                       "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("DELETE", "/api/v1/users/{name}"):                                                    "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/service-accounts"):                                                   "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/service-accounts"):                                                  "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/service-accounts/{name}"):                                            "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("DELETE", "/api/v1/service-accounts/{name}"):                                         "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/groups"):                                                             "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/groups"):                                                            "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/groups/{name}"):                                                      "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/groups/{name}/members"):                                             "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("DELETE", "/api/v1/groups/{name}"):                                                   "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/roles"):                                                              "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/roles"):                                                             "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/roles/{name}"):                                                       "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("DELETE", "/api/v1/roles/{name}"):                                                    "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/api/v1/bindings"):                                                           "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("POST", "/api/v1/bindings"):                                                          "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("DELETE", "/api/v1/bindings/{binding_id}"):                                           "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    # the web console (each page as its REST route)
    ("GET", "/ui/models"):                                                                 "ok  ok  ok  ok  ok  403 ok  | 403 403 403 403 403 403 403",
    ("GET", "/ui/models/{name}"):                                                          "ok  ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("POST", "/ui/models/{name}/aliases/{alias}/rollback"):                                "403 403 403 ok  ok  404 403 | 404 404 404 404 404 404 404",
    ("GET", "/ui/endpoints"):                                                              "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/ui/endpoints/{name}"):                                                       "ok  ok  ok  ok  ok  403 404 | 404 404 404 404 404 404 404",
    ("GET", "/ui/experiments"):                                                            "ok  ok  ok  ok  ok  403 ok  | 403 403 403 403 403 403 403",
    ("GET", "/ui/experiments/{experiment}"):                                               "ok  ok  ok  ok  ok  404 ok  | 404 404 404 404 404 404 404",
    ("GET", "/ui/pipeline-runs"):                                                          "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/ui/pipeline-runs/{run_id}"):                                                 "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/ui/monitors"):                                                               "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/ui/monitors/{name}"):                                                        "ok  ok  ok  ok  ok  404 404 | 404 404 404 404 404 404 404",
    ("GET", "/ui/monitors/{name}/report"):                                                 "ok  ok  ok  ok  ok  404 404 | 404 404 404 404 404 404 404",
    ("GET", "/ui/alerts"):                                                                 "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/ui/policies"):                                                               "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/ui/policies/{name}"):                                                        "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/ui/audit"):                                                                  "403 403 403 403 ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/ui/batch"):                                                                  "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/ui/datasets"):                                                               "ok  ok  ok  ok  ok  403 ok  | 403 403 403 403 403 403 403",
    ("GET", "/ui/datasets/{name}"):                                                        "ok  ok  ok  ok  ok  403 ok  | 403 403 403 403 403 403 403",
    # inference (usina serve, and usina server at the same paths)
    ("POST", "/v1/endpoints/{name}:predict"):                                              "403 403 403 ok  ok  ok  404 | 404 404 404 404 404 404 404",
    ("POST", "/v2/models/{name}/infer"):                                                   "403 403 403 ok  ok  ok  404 | 404 404 404 404 404 404 404",
    ("POST", "/invocations"):                                                              "403 403 403 ok  ok  ok  403 | 403 403 403 403 403 403 403",
    ("POST", "/v1/projects/{project}/locations/{location}/endpoints/{name}:predict"):      "403 403 403 ok  ok  ok  404 | 404 404 404 404 404 404 404",
    ("POST", "/v2/models/{name}/versions/{version}/infer"):                                "403 403 403 ok  ok  ok  404 | 404 404 404 404 404 404 404",
    ("POST", "/v1/endpoints/{name}/invocations"):                                          "403 403 403 ok  ok  ok  404 | 404 404 404 404 404 404 404",
    ("POST", "/v1/projects/{project}/locations/{location}/endpoints/{name}:rawPredict"):   "403 403 403 ok  ok  ok  404 | 404 404 404 404 404 404 404",
    ("GET", "/v1/endpoints"):                                                              "ok  ok  ok  ok  ok  403 403 | 403 403 403 403 403 403 403",
    ("GET", "/v1/endpoints/{name}"):                                                       "ok  ok  ok  ok  ok  403 404 | 404 404 404 404 404 404 404",
    ("GET", "/v2/models/{name}"):                                                          "ok  ok  ok  ok  ok  403 404 | 404 404 404 404 404 404 404",
    ("GET", "/v2/models/{name}/versions/{version}"):                                       "ok  ok  ok  ok  ok  403 404 | 404 404 404 404 404 404 404",
    ("GET", "/v2/models/{name}/ready"):                                                    "ok  ok  ok  ok  ok  403 404 | 404 404 404 404 404 404 404",
    ("GET", "/v2/models/{name}/versions/{version}/ready"):                                 "ok  ok  ok  ok  ok  403 404 | 404 404 404 404 404 404 404",
}
# fmt: on


@dataclass(frozen=True)
class Answer:
    """What a request got: its status, and the verdict the guard left (``None``: the guard
    never ran)."""

    status: int
    verdict: Verdict | None
    text: str

    def cell(self) -> str:
        """This answer as a cell of ``MATRIX``."""
        if self.verdict is not None and self.verdict.status == 0:
            return "ok"
        return str(self.status)


class Verdicts:
    """The app, as served, keeping the guard's verdict of each request by its request id."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.by_request: dict[str, Verdict | None] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = dict(scope["headers"]).get(b"x-request-id", b"").decode()

        async def kept(message: Any) -> None:
            # Kept before the answer leaves, so the client never reads it ahead of the verdict.
            if message["type"] == "http.response.start":
                self.by_request[request_id] = scope.get(VERDICT)
            await send(message)

        await self.app(scope, receive, kept)


@dataclass
class Served:
    """A live app with USINA_AUTH=on, the tokens of each role's principals, and its runs."""

    http: httpx.Client
    verdicts: Verdicts
    tokens: dict[str, str]
    runs: dict[str, str]
    count: int = 0

    def call(self, holder: str, method: str, path: str, **kwargs: Any) -> Answer:
        self.count += 1
        request_id = f"m-{self.count}"
        headers = {"Authorization": f"Bearer {self.tokens[holder]}", "X-Request-Id": request_id}
        response = self.http.request(method, path, headers=headers, **kwargs)
        return Answer(response.status_code, self.verdicts.by_request.get(request_id), response.text)


def _principals(db_url: str, artifacts: str) -> tuple[dict[str, str], dict[str, str]]:
    """Tokens of ROLE@ws and ROLE@own for every role, and a run in each experiment."""
    db = Database(db_url)
    db.migrate()
    store = SqlIdentityStore(db)
    tokens = {}
    for role in ROLES:
        for holder, scopes in ((f"{role}@ws", ("*",)), (f"{role}@own", BOUND_ON)):
            name = holder.replace("@", "-")
            store.create_principal("service-account", name)
            for resource in scopes:
                store.bind(f"service-account:{name}", role, resource)
            tokens[holder] = store.issue_token(f"service-account:{name}", 3600).secret
    tracking = SqlTrackingStore(db, "tester", artifacts=open_artifact_store(artifacts))
    runs = {side: tracking.create_run(side, f"{side}-run").id for side in SIDES}
    db.dispose()
    return tokens, runs


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Served]:
    """``usina server``'s app with USINA_AUTH=on, in a thread, and its principals."""
    app = create_app(ServerConfig(db_url=db_url, artifacts=str(tmp_path / "a"), auth=True))
    verdicts = Verdicts(app)
    with ThreadServer(verdicts) as url, httpx.Client(base_url=url) as http:
        tokens, runs = _principals(db_url, str(tmp_path / "a"))
        yield Served(http, verdicts, tokens, runs)


@pytest.fixture
def serve(db_url: str, tmp_path: Path) -> Iterator[Served]:
    """``usina serve``'s app with USINA_AUTH=on, in a thread, and its principals."""
    from usina.serving import ServingConfig
    from usina.serving.app import create_app as create_serving_app

    tokens, runs = _principals(db_url, str(tmp_path / "a"))
    config = ServingConfig(
        poll_interval=0.2, log_flush_interval=0.2, log_file_interval=0.2, auth=True
    )
    verdicts = Verdicts(create_serving_app(db_url, str(tmp_path / "a"), config))
    with ThreadServer(verdicts) as url, httpx.Client(base_url=url) as http:
        yield Served(http, verdicts, tokens, runs)


def _names_a_resource(key: tuple[str, str]) -> bool:
    return ROUTES[key].kind is not None


def _request(key: tuple[str, str], side: str, runs: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The path and request options that call route ``key`` on the ``side`` resource."""
    method, template = key
    values = {
        "name": side,
        "version": "1",
        "alias": "champion",
        "path": "model.pkl",
        "key:path": "notes/a.txt",
        "path:path": "model.pkl",
        "digest": "0" * 64,
        "holder": "someone",
        "binding_id": "999999",
        "alert_id": "999999",
        "job_id": "0" * 32,
        "step_run_id": "0" * 32,
        "experiment": side,
        "project": "p",
        "location": "l",
        "run_id": runs[side] if template.startswith("/api/v1/runs/") else "0" * 32,
    }
    path = template
    for param, value in values.items():
        path = path.replace("{" + param + "}", value)
    assert "{" not in path, f"no value for a parameter of {template}"
    options: dict[str, Any] = {}
    if key == ("POST", "/api/v1/runs"):
        options["json"] = {"experiment": side}
    elif key == ("GET", "/api/v1/runs"):
        options["params"] = {"experiment": side}
    elif method == "PUT" and template.startswith("/api/v1/artifacts/"):
        options["content"] = b"x"
    elif method in ("POST", "PUT", "PATCH"):
        # A body the route may refuse (422) once the guard has let it through: FastAPI checks
        # the body's fields after the access check.
        options["json"] = {}
    return path, options


def _row(served: Served, key: tuple[str, str]) -> tuple[list[Answer], list[Answer]]:
    """The answers of each role on the own side and the foreign side (see ``MATRIX``)."""
    own, foreign = [], []
    for role in ROLE_ORDER:
        if _names_a_resource(key):
            holders = ((f"{role}@own", OWN), (f"{role}@own", FOREIGN))
        else:
            holders = ((f"{role}@ws", OWN), (f"{role}@own", OWN))
        for (holder, side), answers in zip(holders, (own, foreign), strict=True):
            path, options = _request(key, side, served.runs)
            answers.append(served.call(holder, key[0], path, **options))
    return own, foreign


def _cells(answers: list[Answer]) -> str:
    return " ".join(a.cell() for a in answers)


def _check_row(served: Served, key: tuple[str, str]) -> None:
    own, foreign = _row(served, key)
    expected_own, _, expected_foreign = MATRIX[key].partition("|")
    observed = f"{_cells(own)} | {_cells(foreign)}"
    where = f"{key[0]} {key[1]}: observed {observed!r}"
    for role, answer, cell in zip(
        ROLE_ORDER * 2, own + foreign, expected_own.split() + expected_foreign.split(), strict=True
    ):
        assert answer.verdict is not None, f"{where}: the guard never ran for {role}"
        assert answer.cell() == cell, f"{where}: {role}: {answer.text}"
    if _names_a_resource(key):
        # Bound on the workspace, each role reaches a foreign resource as ROLE@own its own.
        for role, mine in zip(ROLE_ORDER, own, strict=True):
            path, options = _request(key, FOREIGN, served.runs)
            anywhere = served.call(f"{role}@ws", key[0], path, **options)
            assert anywhere.cell() == mine.cell(), f"{where}: {role} on the workspace"


def test_the_table_lists_every_route_of_both_apps(tmp_path: Path) -> None:
    from usina.serving.app import create_app as create_serving_app

    db, artifacts = f"sqlite:///{tmp_path / 'usina.db'}", str(tmp_path / "artifacts")
    answered = app_routes(create_app(ServerConfig(db_url=db, artifacts=artifacts)))
    answered |= app_routes(create_serving_app(db, artifacts))
    guarded = answered - PUBLIC - AUTHENTICATED - {METRICS}
    assert sorted(guarded - set(MATRIX)) == [], "write these routes' rows in MATRIX"
    assert sorted(set(MATRIX) - guarded) == [], "these rows name routes that no longer exist"
    assert set(MATRIX) == set(ROUTES)
    for key, row in MATRIX.items():
        own, bar, foreign = row.partition("|")
        assert bar and len(own.split()) == len(foreign.split()) == len(ROLES), key


def test_every_role_on_every_route_own_and_foreign(server: Served) -> None:
    for key in MATRIX:
        _check_row(server, key)
    resource_routes = sum(_names_a_resource(key) for key in MATRIX)
    assert server.count == len(MATRIX) * 2 * len(ROLES) + resource_routes * len(ROLES)


def test_usina_serve_answers_its_routes_as_the_table_says(serve: Served) -> None:
    from usina.serving.app import create_app as create_serving_app

    # Its routes, from an app of its own (the one served is wrapped to keep verdicts).
    routes = app_routes(create_serving_app("sqlite://", "memory://"))
    keys = [key for key in MATRIX if key in routes]
    assert len(keys) == 13, keys
    for key in keys:
        _check_row(serve, key)


def test_runs_are_reached_through_their_experiment_only(server: Served) -> None:
    # A run of a foreign experiment and a run that does not exist answer the same 404, naming
    # the run asked for and nothing else.
    foreign = server.call("data-scientist@own", "GET", f"/api/v1/runs/{server.runs[FOREIGN]}")
    missing = server.call("data-scientist@own", "GET", f"/api/v1/runs/{'f' * 32}")
    assert (foreign.status, missing.status) == (404, 404)
    assert FOREIGN not in foreign.text and server.runs[FOREIGN] in foreign.text
    assert foreign.text.replace(server.runs[FOREIGN], "ID") == missing.text.replace("f" * 32, "ID")
    # Bound on one experiment: its runs are listed when asked for by experiment, and the list
    # of every run is the workspace's.
    mine = server.call("data-scientist@own", "GET", "/api/v1/runs", params={"experiment": OWN})
    assert mine.status == 200
    assert [r["id"] for r in json.loads(mine.text)["items"]] == [server.runs[OWN]]
    assert server.call("data-scientist@own", "GET", "/api/v1/runs").status == 403
    # ...and a new run goes only into an experiment the caller is bound on.
    made = server.call("training@own", "POST", "/api/v1/runs", json={"experiment": OWN})
    assert made.status == 201
    assert server.call("training@own", "POST", "/api/v1/runs", json={}).status == 404
    # The audit log names the experiment a run route acted on.
    assert made.verdict is not None and made.verdict.resource == "experiments/own"


LOG_KEY = "request-log/endpoint=own/date=2026-01-01/rows.parquet"
DROPS_KEY = "request-log-drops/endpoint=own/date=2026-01-01/drops.parquet"


def test_request_log_files_need_usina_logs_read(server: Served, tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "a"))
    for key in (LOG_KEY, DROPS_KEY, "notes/a.txt"):
        store.write(key, b"rows")
    # viewer and training read artifacts but not request logs (their rows hold request
    # inputs); data-scientist and admin read both.
    for holder, allowed in (
        ("viewer@ws", False),
        ("training@ws", False),
        ("data-scientist@ws", True),
        ("admin@ws", True),
    ):
        listed = server.call(holder, "GET", "/api/v1/artifacts")
        keys = json.loads(listed.text)["items"]
        expected = {LOG_KEY, DROPS_KEY, "notes/a.txt"} if allowed else {"notes/a.txt"}
        assert set(keys) == expected, holder
        for key in (LOG_KEY, DROPS_KEY):
            for method in ("GET", "HEAD"):
                answer = server.call(holder, method, f"/api/v1/artifacts/{key}")
                assert answer.status == (200 if allowed else 403), (holder, method, key)
                if method == "GET" and not allowed:
                    assert "usina.logs.read" in answer.text
        assert server.call(holder, "GET", "/api/v1/artifacts/notes/a.txt").status == 200


def _register(server: Served, model: str, run_id: str, holder: str = "admin@ws") -> Answer:
    data = f"weights of {model}".encode()
    digest = hashlib.sha256(data).hexdigest()
    stored = server.call("admin@ws", "PUT", f"/api/v1/artifacts/{blob_key(digest)}", content=data)
    assert stored.status == 201, stored.text
    version = {
        "digest": digest,
        "size": len(data),
        "format": "pickle",
        "model_class": "m.M",
        "run_id": run_id,
    }
    made = server.call(holder, "POST", f"/api/v1/models/{model}/versions", json=version)
    if holder != "admin@ws":
        return made
    assert made.status == 201, made.text
    moved = server.call(
        "admin@ws", "PUT", f"/api/v1/models/{model}/aliases/champion", json={"version": 1}
    )
    assert moved.status == 200, moved.text
    return made


def test_lineage_shows_a_run_only_to_who_may_read_its_experiment(server: Served) -> None:
    # Version 1 of the own model was trained in the foreign experiment.
    _register(server, OWN, server.runs[FOREIGN])
    path = f"/api/v1/models/{OWN}/versions/1/lineage"
    bound = json.loads(server.call("data-scientist@own", "GET", path).text)
    assert bound["version"]["version"] == 1 and bound["run"] is None
    anywhere = json.loads(server.call("data-scientist@ws", "GET", path).text)
    assert anywhere["run"]["id"] == server.runs[FOREIGN]


def test_an_endpoint_is_created_only_for_a_model_its_creator_may_read(
    server: Served, db_url: str
) -> None:
    _register(server, OWN, server.runs[OWN])
    db = Database(db_url)
    store = SqlIdentityStore(db)
    store.create_role("endpoint-maker", ["usina.endpoints.write"])
    store.create_principal("service-account", "maker")
    store.bind("service-account:maker", "endpoint-maker", "*")
    server.tokens["maker"] = store.issue_token("service-account:maker", 3600).secret
    db.dispose()
    # A model it may not read answers as a model that does not exist: nothing to tell apart.
    hidden = server.call(
        "maker",
        "POST",
        "/api/v1/endpoints",
        json={"name": "e1", "model": f"models:/{OWN}@champion"},
    )
    missing = server.call(
        "admin@ws",
        "POST",
        "/api/v1/endpoints",
        json={"name": "e2", "model": "models:/ghost@champion"},
    )
    assert (hidden.status, missing.status) == (404, 404)
    assert hidden.text.replace(OWN, "M") == missing.text.replace("ghost", "M")
    made = server.call(
        "ml-engineer@ws",
        "POST",
        "/api/v1/endpoints",
        json={"name": "e3", "model": f"models:/{OWN}@champion"},
    )
    assert made.status == 201, made.text


def test_a_version_links_only_to_a_run_its_registrar_may_read(server: Served) -> None:
    # training@own registers versions of the own model and tracks runs of the own experiment.
    foreign = _register(server, OWN, server.runs[FOREIGN], "training@own")
    missing = _register(server, OWN, "f" * 32, "training@own")
    assert (foreign.status, missing.status) == (404, 404)
    assert foreign.text.replace(server.runs[FOREIGN], "ID") == missing.text.replace("f" * 32, "ID")
    assert _register(server, OWN, server.runs[OWN], "training@own").status == 201


def test_a_job_bound_on_one_experiment_tracks_runs_there_with_the_client(server: Served) -> None:
    from usina.client import Client
    from usina.errors import NotFound

    url = str(server.http.base_url).rstrip("/")
    client = Client(url, token=server.tokens["training@own"])
    try:
        with client.start_run(OWN, params={"depth": 3}) as run:
            run.log_metric("auc", 0.91)
        assert client.tracking.get_run(run.id).metrics == {"auc": 0.91}
        assert {r.id for r in client.tracking.list_runs(OWN)} == {run.id, server.runs[OWN]}
        with pytest.raises(NotFound):
            client.start_run(FOREIGN)
        with pytest.raises(NotFound):
            client.tracking.get_run(server.runs[FOREIGN])
    finally:
        client.close()
