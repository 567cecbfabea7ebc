"""The catalogue of permissions, the predefined roles, and the one decision function.

A permission is ``usina.<resource>.<verb>``, tagged with its audit class: ``admin_write``
(changes who may do what, or what serves production), ``data_write`` (adds or changes data:
runs, versions, blobs, pipeline runs), ``data_read``, and ``secret_read`` (reads a secret's
value: always recorded, allowed or refused). A role is a set of permissions; a
binding gives a principal (or a group) a role on the whole workspace (``*``) or on one
resource (``models/credit``, ``endpoints/credit``, ``experiments/churn``).

``ROUTES`` names the permission every route of ``usina server`` and ``usina serve`` needs, and
the path parameter naming the resource it acts on; ``PUBLIC`` lists the routes anyone may
call. A route in neither is refused.

Example:
    >>> grants = [Grant(ROLES["viewer"].permissions, "*"), Grant(ROLES["ml-engineer"].permissions,
    ...     "models/credit")]
    >>> allows(grants, "usina.models.deploy", "models/credit")
    True
    >>> allows(grants, "usina.models.deploy", "models/churn")
    False
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

ADMIN_WRITE, DATA_READ, DATA_WRITE = "admin_write", "data_read", "data_write"
SECRET_READ = "secret_read"
WORKSPACE = "*"


@dataclass(frozen=True)
class Permission:
    """One permission: its name, its audit class and what it lets a caller do."""

    name: str
    audit_class: str
    description: str


_CATALOGUE = (
    Permission("usina.runs.read", DATA_READ, "See experiments, runs, their metrics and inputs."),
    Permission(
        "usina.runs.write", DATA_WRITE, "Start runs, log params, metrics, inputs and artifacts."
    ),
    Permission("usina.models.read", DATA_READ, "See models, versions, aliases and lineage."),
    Permission("usina.models.write", DATA_WRITE, "Register new versions of a model."),
    Permission(
        "usina.models.deploy", ADMIN_WRITE, "Move, delete and roll back aliases (champion)."
    ),
    Permission("usina.artifacts.read", DATA_READ, "List and download stored blobs."),
    Permission("usina.artifacts.write", DATA_WRITE, "Upload blobs to the artifact store."),
    Permission(
        "usina.artifacts.delete",
        ADMIN_WRITE,
        "Delete stored files (request-log files among them); content-addressed blobs stay.",
    ),
    Permission("usina.endpoints.read", DATA_READ, "See endpoints, their splits and statistics."),
    Permission(
        "usina.endpoints.write",
        ADMIN_WRITE,
        "Create, change and delete endpoints: split, follow, shadow, batching.",
    ),
    Permission("usina.endpoints.predict", DATA_READ, "Send prediction requests to endpoints."),
    Permission("usina.pipelines.read", DATA_READ, "See pipeline runs, step runs and lineage."),
    Permission("usina.pipelines.run", DATA_WRITE, "Record pipeline runs and their step runs."),
    Permission("usina.schedules.read", DATA_READ, "See schedules and their fires."),
    Permission(
        "usina.schedules.write",
        ADMIN_WRITE,
        "Create, pause, resume and delete schedules; lead the scheduler and claim ticks.",
    ),
    Permission("usina.logs.read", DATA_READ, "Query endpoints' request logs."),
    Permission("usina.audit.read", DATA_READ, "Read and verify the audit log."),
    Permission(
        "usina.alerts.read", DATA_READ, "See alerts raised by monitors and their deliveries."
    ),
    Permission(
        "usina.alerts.write",
        DATA_WRITE,
        "Record monitor observations that open and resolve alerts, and their deliveries.",
    ),
    Permission("usina.batch.read", DATA_READ, "See batch prediction jobs and their outcomes."),
    Permission(
        "usina.batch.run",
        DATA_WRITE,
        "Record batch prediction jobs (running one also needs the model and artifact rights).",
    ),
    Permission("usina.topics.read", DATA_READ, "See topics and the schema of their records."),
    Permission(
        "usina.topics.consume",
        DATA_READ,
        "Poll a topic's messages in a consumer group, commit and seek the group.",
    ),
    Permission(
        "usina.topics.publish", DATA_WRITE, "Publish records to topics (checked by schema)."
    ),
    Permission("usina.topics.admin", ADMIN_WRITE, "Create and delete topics and their messages."),
    Permission(
        "usina.datasets.read", DATA_READ, "See datasets, their versions, profiles and expectations."
    ),
    Permission(
        "usina.datasets.write",
        DATA_WRITE,
        "Record dataset versions (the file also needs artifact rights) and set expectations.",
    ),
    Permission(
        "usina.monitors.read", DATA_READ, "See monitors, their runs and history, and labels."
    ),
    Permission(
        "usina.monitors.write",
        ADMIN_WRITE,
        "Create, run and delete monitors; set a model version's reference summary.",
    ),
    Permission("usina.labels.write", DATA_WRITE, "Send labels (ground truth) of logged requests."),
    Permission(
        "usina.policies.read", DATA_READ, "See policies, where their loops stand, and their events."
    ),
    Permission(
        "usina.policies.write",
        ADMIN_WRITE,
        "Apply and delete policies; move a policy's loop (retrain, gate, canary, promote).",
    ),
    Permission("usina.secrets.list", DATA_READ, "See secrets' names and history, not values."),
    Permission("usina.secrets.read", SECRET_READ, "Read a secret's value (always audited)."),
    Permission("usina.secrets.write", ADMIN_WRITE, "Set and delete secrets."),
    Permission(
        "usina.pii.reidentify",
        DATA_READ,
        "Reverse encrypted PII (enc:KEYID:...) to its values; every use is audited.",
    ),
    Permission(
        "usina.identity.read",
        DATA_READ,
        "See users, groups, service accounts, roles, bindings and others' tokens.",
    ),
    Permission(
        "usina.identity.admin",
        ADMIN_WRITE,
        "Create and delete principals, roles and bindings; issue and revoke others' tokens.",
    ),
)

PERMISSIONS: dict[str, Permission] = {p.name: p for p in _CATALOGUE}


@dataclass(frozen=True)
class RoleSpec:
    """A role as data: its permissions and what it is for."""

    name: str
    permissions: frozenset[str]
    description: str


def _role(name: str, description: str, *permissions: str) -> RoleSpec:
    unknown = set(permissions) - set(PERMISSIONS)
    assert not unknown, f"role {name} names unknown permissions {unknown}"
    return RoleSpec(name, frozenset(permissions), description)


_VIEW = (
    "usina.runs.read",
    "usina.models.read",
    "usina.artifacts.read",
    "usina.endpoints.read",
    "usina.pipelines.read",
    "usina.schedules.read",
    "usina.alerts.read",
    "usina.monitors.read",
    "usina.batch.read",
    "usina.topics.read",
    "usina.datasets.read",
    "usina.policies.read",
)
_SCIENCE = (
    *_VIEW,
    "usina.topics.consume",
    "usina.runs.write",
    "usina.artifacts.write",
    "usina.models.write",
    "usina.pipelines.run",
    "usina.logs.read",
    "usina.monitors.write",
    "usina.labels.write",
    "usina.datasets.write",
)

ROLES: dict[str, RoleSpec] = {
    r.name: r
    for r in (
        _role(
            "viewer",
            "Read experiments, models, endpoints, pipelines, schedules and alerts.",
            *_VIEW,
        ),
        _role(
            "data-scientist",
            "A viewer who also tracks runs, uploads artifacts, registers versions, runs "
            "pipelines and reads request logs; moves no alias.",
            *_SCIENCE,
        ),
        _role(
            "data-engineer",
            "A viewer who also runs and schedules pipelines, records runs and artifacts, "
            "reads request logs, raises alerts (monitor runs) and loads labels.",
            *_VIEW,
            "usina.runs.write",
            "usina.artifacts.write",
            "usina.pipelines.run",
            "usina.schedules.write",
            "usina.logs.read",
            "usina.alerts.write",
            "usina.labels.write",
            "usina.batch.run",
            "usina.topics.consume",
            "usina.topics.publish",
            "usina.topics.admin",
            "usina.datasets.write",
        ),
        _role(
            "ml-engineer",
            "A data scientist who also deploys: moves aliases, manages endpoints and "
            "schedules, predicts, and raises alerts (monitor runs).",
            *_SCIENCE,
            "usina.models.deploy",
            "usina.endpoints.write",
            "usina.endpoints.predict",
            "usina.schedules.write",
            "usina.alerts.write",
            "usina.batch.run",
            "usina.topics.publish",
            "usina.policies.write",
        ),
        _role("admin", "Everything, access control and the audit log included.", *PERMISSIONS),
        _role(
            "inference", "Send predictions to endpoints, nothing else.", "usina.endpoints.predict"
        ),
        _role(
            "training",
            "What a training job needs: runs, artifacts and registering versions; no alias moves.",
            "usina.runs.read",
            "usina.runs.write",
            "usina.artifacts.read",
            "usina.artifacts.write",
            "usina.models.read",
            "usina.models.write",
            "usina.datasets.read",
        ),
    )
}

# The resource kinds a binding may name (``KIND/NAME``), besides the workspace ``*``.
RESOURCE_KINDS = (
    "experiments",
    "models",
    "endpoints",
    "pipelines",
    "schedules",
    "monitors",
    "secrets",
)


@dataclass(frozen=True)
class Grant:
    """Permissions held on a scope: the workspace (``*``) or one resource (``models/credit``)."""

    permissions: frozenset[str]
    scope: str = WORKSPACE


def allows(
    grants: Iterable[Grant],
    permission: str,
    resource: str | None = None,
    token_scope: frozenset[str] | None = None,
) -> bool:
    """Whether ``grants`` allow ``permission`` on ``resource`` (``None``: the workspace).

    A grant on the workspace covers every resource; a grant on one resource covers only it,
    never the workspace-wide form of a route (a list of every model, say). A token's scope,
    when it has one, narrows the holder's grants: the permission must be in both. An unknown
    permission is never allowed (fail closed).
    """
    if permission not in PERMISSIONS:
        return False
    if token_scope is not None and permission not in token_scope:
        return False
    for grant in grants:
        if permission in grant.permissions and grant.scope in (WORKSPACE, resource):
            return True
    return False


@dataclass(frozen=True)
class Rule:
    """What one route needs: a permission, on the resource its path parameter ``param``
    names (``kind/<value>``), or on the workspace when ``param`` is ``None``."""

    permission: str
    kind: str | None = None
    param: str | None = None

    def resource(self, path_params: Mapping[str, str]) -> str | None:
        """The resource a request acts on, from its path parameters."""
        if self.kind is None or self.param is None or self.param not in path_params:
            return None
        return f"{self.kind}/{path_params[self.param]}"


def _r(permission: str, kind: str | None = None, param: str | None = None) -> Rule:
    assert permission in PERMISSIONS, permission
    return Rule(permission, kind, param)


_MODEL = ("models", "name")
_ENDPOINT = ("endpoints", "name")
_SCHEDULE = ("schedules", "name")
# Run routes act on an experiment that their path does not name: the server finds it (the
# ``experiment`` parameter below) from the run id in the path, the ``experiment`` query
# parameter of a run list, or the body of a new run, so a binding on ``experiments/NAME``
# covers that experiment's runs. Without one (a list of every run) the workspace is checked.
EXPERIMENT_PARAM = "experiment"
_EXPERIMENT = ("experiments", EXPERIMENT_PARAM)
_RUNS_READ = _r("usina.runs.read", *_EXPERIMENT)
_RUNS_WRITE = _r("usina.runs.write", *_EXPERIMENT)
_MONITOR = ("monitors", "name")
_SECRET = ("secrets", "name")

# (method, path template): the rule.
ROUTES: dict[tuple[str, str], Rule] = {
    # tracking
    ("GET", "/api/v1/experiments"): _r("usina.runs.read"),
    ("POST", "/api/v1/runs"): _RUNS_WRITE,
    ("GET", "/api/v1/runs"): _RUNS_READ,
    ("GET", "/api/v1/runs/{run_id}"): _RUNS_READ,
    ("POST", "/api/v1/runs/{run_id}/batch"): _RUNS_WRITE,
    ("POST", "/api/v1/runs/{run_id}/artifacts"): _RUNS_WRITE,
    ("GET", "/api/v1/runs/{run_id}/artifacts/{path:path}"): _RUNS_READ,
    ("POST", "/api/v1/runs/{run_id}/inputs"): _RUNS_WRITE,
    ("POST", "/api/v1/runs/{run_id}/heartbeat"): _RUNS_WRITE,
    ("POST", "/api/v1/runs/{run_id}/end"): _RUNS_WRITE,
    ("GET", "/api/v1/runs/{run_id}/metrics/{key:path}"): _RUNS_READ,
    # registry
    ("GET", "/api/v1/models"): _r("usina.models.read"),
    ("GET", "/api/v1/models/{name}"): _r("usina.models.read", *_MODEL),
    ("POST", "/api/v1/models/{name}/versions"): _r("usina.models.write", *_MODEL),
    ("GET", "/api/v1/models/{name}/versions"): _r("usina.models.read", *_MODEL),
    ("GET", "/api/v1/models/{name}/latest"): _r("usina.models.read", *_MODEL),
    ("GET", "/api/v1/models/{name}/versions/{version}"): _r("usina.models.read", *_MODEL),
    ("GET", "/api/v1/models/{name}/versions/{version}/lineage"): _r("usina.models.read", *_MODEL),
    ("GET", "/api/v1/models/{name}/aliases/{alias}"): _r("usina.models.read", *_MODEL),
    ("PUT", "/api/v1/models/{name}/aliases/{alias}"): _r("usina.models.deploy", *_MODEL),
    ("DELETE", "/api/v1/models/{name}/aliases/{alias}"): _r("usina.models.deploy", *_MODEL),
    ("POST", "/api/v1/models/{name}/aliases/{alias}/rollback"): _r("usina.models.deploy", *_MODEL),
    ("GET", "/api/v1/models/{name}/history"): _r("usina.models.read", *_MODEL),
    # artifacts (request-log files live under LOG_PREFIXES: reading or listing them there
    # needs usina.logs.read as well, checked by the server where the key is known)
    ("GET", "/api/v1/artifacts"): _r("usina.artifacts.read"),
    ("PUT", "/api/v1/artifacts/{key:path}"): _r("usina.artifacts.write"),
    ("GET", "/api/v1/artifacts/{key:path}"): _r("usina.artifacts.read"),
    ("HEAD", "/api/v1/artifacts/{key:path}"): _r("usina.artifacts.read"),
    ("DELETE", "/api/v1/artifacts/{key:path}"): _r("usina.artifacts.delete"),
    # endpoints (management)
    ("GET", "/api/v1/endpoints"): _r("usina.endpoints.read"),
    ("POST", "/api/v1/endpoints"): _r("usina.endpoints.write"),
    ("GET", "/api/v1/endpoints/{name}"): _r("usina.endpoints.read", *_ENDPOINT),
    ("PATCH", "/api/v1/endpoints/{name}"): _r("usina.endpoints.write", *_ENDPOINT),
    ("DELETE", "/api/v1/endpoints/{name}"): _r("usina.endpoints.write", *_ENDPOINT),
    ("PUT", "/api/v1/endpoints/{name}/split"): _r("usina.endpoints.write", *_ENDPOINT),
    ("PUT", "/api/v1/endpoints/{name}/follow"): _r("usina.endpoints.write", *_ENDPOINT),
    ("PUT", "/api/v1/endpoints/{name}/shadow"): _r("usina.endpoints.write", *_ENDPOINT),
    ("PUT", "/api/v1/endpoints/{name}/log-policy"): _r("usina.endpoints.write", *_ENDPOINT),
    ("DELETE", "/api/v1/endpoints/{name}/log-policy"): _r("usina.endpoints.write", *_ENDPOINT),
    ("GET", "/api/v1/endpoints/{name}/stats"): _r("usina.endpoints.read", *_ENDPOINT),
    # pipelines
    ("POST", "/api/v1/pipeline-runs"): _r("usina.pipelines.run"),
    ("GET", "/api/v1/pipeline-runs"): _r("usina.pipelines.read"),
    ("GET", "/api/v1/pipeline-runs/{run_id}"): _r("usina.pipelines.read"),
    ("POST", "/api/v1/pipeline-runs/{run_id}/end"): _r("usina.pipelines.run"),
    ("POST", "/api/v1/step-runs"): _r("usina.pipelines.run"),
    ("GET", "/api/v1/step-runs"): _r("usina.pipelines.read"),
    ("GET", "/api/v1/step-runs/{step_run_id}"): _r("usina.pipelines.read"),
    ("GET", "/api/v1/step-runs/{step_run_id}/links"): _r("usina.pipelines.read"),
    ("GET", "/api/v1/artifact-use/{digest}"): _r("usina.pipelines.read"),
    # schedules
    ("POST", "/api/v1/schedules"): _r("usina.schedules.write"),
    ("GET", "/api/v1/schedules"): _r("usina.schedules.read"),
    ("GET", "/api/v1/schedules/{name}"): _r("usina.schedules.read", *_SCHEDULE),
    ("POST", "/api/v1/schedules/{name}/pause"): _r("usina.schedules.write", *_SCHEDULE),
    ("POST", "/api/v1/schedules/{name}/resume"): _r("usina.schedules.write", *_SCHEDULE),
    ("DELETE", "/api/v1/schedules/{name}"): _r("usina.schedules.write", *_SCHEDULE),
    ("GET", "/api/v1/schedule-fires"): _r("usina.schedules.read"),
    ("POST", "/api/v1/scheduler/lease"): _r("usina.schedules.write"),
    ("DELETE", "/api/v1/scheduler/lease/{holder}"): _r("usina.schedules.write"),
    ("POST", "/api/v1/schedules/{name}/claims"): _r("usina.schedules.write", *_SCHEDULE),
    ("POST", "/api/v1/schedules/{name}/fires"): _r("usina.schedules.write", *_SCHEDULE),
    # monitoring: labels of an endpoint's requests, monitors and their runs
    ("POST", "/api/v1/endpoints/{name}/labels"): _r("usina.labels.write", *_ENDPOINT),
    ("GET", "/api/v1/endpoints/{name}/labels"): _r("usina.monitors.read", *_ENDPOINT),
    ("POST", "/api/v1/monitors"): _r("usina.monitors.write"),
    ("GET", "/api/v1/monitors"): _r("usina.monitors.read"),
    ("GET", "/api/v1/monitors/{name}"): _r("usina.monitors.read", *_MONITOR),
    ("DELETE", "/api/v1/monitors/{name}"): _r("usina.monitors.write", *_MONITOR),
    ("POST", "/api/v1/monitors/{name}/runs"): _r("usina.monitors.write", *_MONITOR),
    ("GET", "/api/v1/monitors/{name}/runs"): _r("usina.monitors.read", *_MONITOR),
    # audit log (read-only over HTTP: the server alone appends)
    ("GET", "/api/v1/audit"): _r("usina.audit.read"),
    ("GET", "/api/v1/audit/verify"): _r("usina.audit.read"),
    # alerts (monitor runs observe checks through a server; they send notifications themselves)
    ("GET", "/api/v1/alerts"): _r("usina.alerts.read"),
    ("GET", "/api/v1/alerts/{alert_id}"): _r("usina.alerts.read"),
    ("POST", "/api/v1/alerts/observations"): _r("usina.alerts.write"),
    ("POST", "/api/v1/alerts/{alert_id}/deliveries"): _r("usina.alerts.write"),
    # batch jobs (a job runs where it was started and records its start and end here)
    ("GET", "/api/v1/batch/jobs"): _r("usina.batch.read"),
    ("GET", "/api/v1/batch/jobs/{job_id}"): _r("usina.batch.read"),
    ("POST", "/api/v1/batch/jobs"): _r("usina.batch.run"),
    ("POST", "/api/v1/batch/jobs/{job_id}/heartbeat"): _r("usina.batch.run"),
    ("POST", "/api/v1/batch/jobs/{job_id}/end"): _r("usina.batch.run"),
    # PII: reversal of encrypted values (audited by the route whatever the outcome)
    ("POST", "/api/v1/pii:reidentify"): _r("usina.pii.reidentify"),
    # topics (the log is the server's: publishers and consumers reach it through these)
    ("GET", "/api/v1/topics"): _r("usina.topics.read"),
    ("POST", "/api/v1/topics"): _r("usina.topics.admin"),
    ("GET", "/api/v1/topics/{name}"): _r("usina.topics.read"),
    ("DELETE", "/api/v1/topics/{name}"): _r("usina.topics.admin"),
    ("POST", "/api/v1/topics/{name}:publish"): _r("usina.topics.publish"),
    ("POST", "/api/v1/topics/{name}:poll"): _r("usina.topics.consume"),
    ("POST", "/api/v1/topics/{name}:commit"): _r("usina.topics.consume"),
    ("POST", "/api/v1/topics/{name}:seek"): _r("usina.topics.consume"),
    # secrets (a value is read only at its own route, audited allowed or refused)
    # policies and the record of their decisions
    ("POST", "/api/v1/policies/apply"): _r("usina.policies.write"),
    ("GET", "/api/v1/policies"): _r("usina.policies.read"),
    ("GET", "/api/v1/policies/{name}"): _r("usina.policies.read"),
    ("DELETE", "/api/v1/policies/{name}"): _r("usina.policies.write"),
    ("GET", "/api/v1/policies/{name}/rollout"): _r("usina.policies.read"),
    ("POST", "/api/v1/policies/{name}/transitions"): _r("usina.policies.write"),
    ("GET", "/api/v1/events"): _r("usina.policies.read"),
    ("GET", "/api/v1/secrets"): _r("usina.secrets.list"),
    ("GET", "/api/v1/secrets/{name}"): _r("usina.secrets.list", *_SECRET),
    ("GET", "/api/v1/secrets/{name}/value"): _r("usina.secrets.read", *_SECRET),
    ("PUT", "/api/v1/secrets/{name}"): _r("usina.secrets.write", *_SECRET),
    ("DELETE", "/api/v1/secrets/{name}"): _r("usina.secrets.write", *_SECRET),
    # datasets (a version's file goes through the artifact routes, its record here)
    ("GET", "/api/v1/datasets"): _r("usina.datasets.read"),
    ("GET", "/api/v1/datasets/{name}"): _r("usina.datasets.read"),
    ("PUT", "/api/v1/datasets/{name}/expectations"): _r("usina.datasets.write"),
    ("PUT", "/api/v1/datasets/{name}/policy"): _r("usina.datasets.write"),
    ("DELETE", "/api/v1/datasets/{name}/policy"): _r("usina.datasets.write"),
    ("GET", "/api/v1/datasets/{name}/versions"): _r("usina.datasets.read"),
    ("GET", "/api/v1/datasets/{name}/versions/{version}"): _r("usina.datasets.read"),
    ("POST", "/api/v1/datasets/{name}/versions"): _r("usina.datasets.write"),
    # identity (token routes: anyone authenticated for their own tokens; others' need
    # usina.identity.read or usina.identity.admin, checked in the route)
    ("GET", "/api/v1/users"): _r("usina.identity.read"),
    ("POST", "/api/v1/users"): _r("usina.identity.admin"),
    ("GET", "/api/v1/users/{name}"): _r("usina.identity.read"),
    ("DELETE", "/api/v1/users/{name}"): _r("usina.identity.admin"),
    ("GET", "/api/v1/service-accounts"): _r("usina.identity.read"),
    ("POST", "/api/v1/service-accounts"): _r("usina.identity.admin"),
    ("GET", "/api/v1/service-accounts/{name}"): _r("usina.identity.read"),
    ("DELETE", "/api/v1/service-accounts/{name}"): _r("usina.identity.admin"),
    ("GET", "/api/v1/groups"): _r("usina.identity.read"),
    ("POST", "/api/v1/groups"): _r("usina.identity.admin"),
    ("GET", "/api/v1/groups/{name}"): _r("usina.identity.read"),
    ("POST", "/api/v1/groups/{name}/members"): _r("usina.identity.admin"),
    ("DELETE", "/api/v1/groups/{name}"): _r("usina.identity.admin"),
    ("GET", "/api/v1/roles"): _r("usina.identity.read"),
    ("POST", "/api/v1/roles"): _r("usina.identity.admin"),
    ("GET", "/api/v1/roles/{name}"): _r("usina.identity.read"),
    ("DELETE", "/api/v1/roles/{name}"): _r("usina.identity.admin"),
    ("GET", "/api/v1/bindings"): _r("usina.identity.read"),
    ("POST", "/api/v1/bindings"): _r("usina.identity.admin"),
    ("DELETE", "/api/v1/bindings/{binding_id}"): _r("usina.identity.admin"),
    # the web console (usina.server.ui): each page needs what its REST route needs
    ("GET", "/ui/models"): _r("usina.models.read"),
    ("GET", "/ui/models/{name}"): _r("usina.models.read", *_MODEL),
    ("POST", "/ui/models/{name}/aliases/{alias}/rollback"): _r("usina.models.deploy", *_MODEL),
    ("GET", "/ui/endpoints"): _r("usina.endpoints.read"),
    ("GET", "/ui/endpoints/{name}"): _r("usina.endpoints.read", *_ENDPOINT),
    ("GET", "/ui/experiments"): _r("usina.runs.read"),
    ("GET", "/ui/experiments/{experiment}"): _RUNS_READ,
    ("GET", "/ui/pipeline-runs"): _r("usina.pipelines.read"),
    ("GET", "/ui/pipeline-runs/{run_id}"): _r("usina.pipelines.read"),
    ("GET", "/ui/monitors"): _r("usina.monitors.read"),
    ("GET", "/ui/monitors/{name}"): _r("usina.monitors.read", *_MONITOR),
    ("GET", "/ui/monitors/{name}/report"): _r("usina.monitors.read", *_MONITOR),
    ("GET", "/ui/alerts"): _r("usina.alerts.read"),
    ("GET", "/ui/policies"): _r("usina.policies.read"),
    ("GET", "/ui/policies/{name}"): _r("usina.policies.read"),
    ("GET", "/ui/audit"): _r("usina.audit.read"),
    ("GET", "/ui/batch"): _r("usina.batch.read"),
    ("GET", "/ui/datasets"): _r("usina.datasets.read"),
    ("GET", "/ui/datasets/{name}"): _r("usina.datasets.read"),
    # inference (usina serve, and usina server at the same paths)
    ("POST", "/v1/endpoints/{name}:predict"): _r("usina.endpoints.predict", *_ENDPOINT),
    ("POST", "/v2/models/{name}/infer"): _r("usina.endpoints.predict", *_ENDPOINT),
    ("POST", "/invocations"): _r("usina.endpoints.predict"),
    ("POST", "/v1/projects/{project}/locations/{location}/endpoints/{name}:predict"): _r(
        "usina.endpoints.predict", *_ENDPOINT
    ),
    ("POST", "/v2/models/{name}/versions/{version}/infer"): _r(
        "usina.endpoints.predict", *_ENDPOINT
    ),
    ("POST", "/v1/endpoints/{name}/invocations"): _r("usina.endpoints.predict", *_ENDPOINT),
    ("POST", "/v1/projects/{project}/locations/{location}/endpoints/{name}:rawPredict"): _r(
        "usina.endpoints.predict", *_ENDPOINT
    ),
    ("GET", "/v1/endpoints"): _r("usina.endpoints.read"),
    ("GET", "/v1/endpoints/{name}"): _r("usina.endpoints.read", *_ENDPOINT),
    ("GET", "/v2/models/{name}"): _r("usina.endpoints.read", *_ENDPOINT),
    ("GET", "/v2/models/{name}/versions/{version}"): _r("usina.endpoints.read", *_ENDPOINT),
    ("GET", "/v2/models/{name}/ready"): _r("usina.endpoints.read", *_ENDPOINT),
    ("GET", "/v2/models/{name}/versions/{version}/ready"): _r("usina.endpoints.read", *_ENDPOINT),
}

# Routes anyone may call: health and readiness, the API's description, and the routes that
# hand out tokens (they check a password or a bootstrap token themselves). Token routes for
# one's own tokens need only a valid token. /metrics is public only when configured so.
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/ping"),
        ("GET", "/health"),
        ("GET", "/v2"),
        ("GET", "/v2/health/live"),
        ("GET", "/v2/health/ready"),
        ("GET", "/docs"),
        ("GET", "/docs/static"),
        ("GET", "/api/v1/openapi.json"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/bootstrap"),
        # the web console's login (it checks the password itself), logout and static files
        ("GET", "/ui/login"),
        ("POST", "/ui/login"),
        ("POST", "/ui/logout"),
        ("GET", "/ui/static/{name}"),
    }
)

# Routes any valid token may call: its holder acts on their own tokens and identity; acting
# on another principal's tokens needs usina.identity.read or usina.identity.admin.
AUTHENTICATED: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/api/v1/auth/whoami"),
        ("POST", "/api/v1/tokens"),
        ("GET", "/api/v1/tokens"),
        ("POST", "/api/v1/tokens/{token_id}/revoke"),
        ("PUT", "/api/v1/users/{name}/password"),
        # the console's overview: each of its parts shows only what the caller may read
        ("GET", "/ui"),
    }
)

# Where the request log keeps its files in the artifact store (``usina.serving.logfiles``):
# keys under these need ``usina.logs.read`` besides ``usina.artifacts.read``, since rows hold
# request inputs.
LOG_PREFIXES = ("request-log/", "request-log-drops/")

# Served only when ``usina server`` is configured to publish its metrics without a token.
METRICS = ("GET", "/metrics")
