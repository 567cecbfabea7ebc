"""The metadata schema, as SQLAlchemy Core tables.

Migrations in ``migrations/versions`` create and change these tables; ``HEAD`` names the newest
migration so a process can tell, with one query, that nothing needs to run. Times are seconds
since the epoch (UTC) as doubles; every row a user creates records its actor.
"""

from __future__ import annotations

import sqlalchemy as sa

HEAD = "0014"

metadata = sa.MetaData()

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("experiment_id", _id, sa.ForeignKey("experiments.id"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_time", sa.Double, nullable=False),
    sa.Column("end_time", sa.Double),
    sa.Column("heartbeat_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    sa.Index("ix_runs_status_heartbeat", "status", "heartbeat_at"),
)

params = sa.Table(
    "params",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("value", sa.Double, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.Double, nullable=False),
    sa.Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

run_tags = sa.Table(
    "run_tags",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

run_artifacts = sa.Table(
    "run_artifacts",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("path", sa.String(1024), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
)

run_inputs = sa.Table(
    "run_inputs",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("rows", sa.BigInteger),
)

models = sa.Table(
    "models",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("last_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("model_id", _id, sa.ForeignKey("models.id"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("format", sa.String(32), nullable=False),
    sa.Column("model_class", sa.String(256), nullable=False),
    sa.Column("signature", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(32)),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("model_id", _id, sa.ForeignKey("models.id"), primary_key=True),
    sa.Column("alias", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

alias_history = sa.Table(
    "alias_history",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("model_id", _id, sa.ForeignKey("models.id"), nullable=False),
    sa.Column("alias", sa.String(128), nullable=False),
    sa.Column("from_version", sa.Integer),
    sa.Column("to_version", sa.Integer),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Index("ix_alias_history_model_alias", "model_id", "alias", "id"),
)

# -- pipelines (migration 0002) -----------------------------------------------------------

pipeline_runs = sa.Table(
    "pipeline_runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("pipeline", sa.String(256), nullable=False),
    sa.Column("ref", sa.Text, nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("trigger", sa.String(256), nullable=False),
    sa.Column("resumed_from", sa.String(32)),
    sa.Column("start_time", sa.Double, nullable=False),
    sa.Column("end_time", sa.Double),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Index("ix_pipeline_runs_pipeline_start", "pipeline", "start_time"),
)

step_runs = sa.Table(
    "step_runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("pipeline_run_id", sa.String(32), nullable=False),
    sa.Column("node", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("cache_key", sa.String(64), nullable=False),
    sa.Column("cached_from", sa.String(32)),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("start_time", sa.Double),
    sa.Column("end_time", sa.Double),
    sa.Column("outputs", sa.Text, nullable=False, server_default="{}"),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("log_digest", sa.String(64)),
    sa.Index("ix_step_runs_pipeline_run", "pipeline_run_id"),
    sa.Index("ix_step_runs_cache_key", "cache_key", "status"),
)

artifact_links = sa.Table(
    "artifact_links",
    metadata,
    sa.Column("step_run_id", sa.String(32), primary_key=True),
    sa.Column("role", sa.String(8), primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("rows", sa.BigInteger),
    sa.Index("ix_artifact_links_digest", "digest", "role"),
)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("pipeline", sa.Text, nullable=False),
    sa.Column("cron", sa.String(128), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("catchup", sa.String(16), nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("next_tick", sa.Double, nullable=False),
    sa.Column("last_tick", sa.Double),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
)

schedule_fires = sa.Table(
    "schedule_fires",
    metadata,
    sa.Column("schedule", sa.String(256), primary_key=True),
    sa.Column("tick", sa.Double, primary_key=True),
    sa.Column("fired_at", sa.Double, nullable=False),
    sa.Column("fired_by", sa.String(128), nullable=False),
    sa.Column("missed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("pipeline_run_id", sa.String(32)),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
)

# -- serving (migration 0003) -------------------------------------------------------------

endpoints = sa.Table(
    "endpoints",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("model", sa.String(256), nullable=False),
    # Set when the endpoint follows an alias; NULL when it serves explicit deployments.
    sa.Column("alias", sa.String(128)),
    sa.Column("shadow_version", sa.Integer),
    sa.Column("sample_rate", sa.Double, nullable=False, server_default="1.0"),
    sa.Column("max_batch_size", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_latency_ms", sa.Double, nullable=False, server_default="5.0"),
    # Bumped by every change, so a serving worker notices one with a single cheap query.
    sa.Column("generation", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    # The PII policy of its request log rows (JSON, usina.privacy.check_policy); NULL: none.
    sa.Column("log_policy", sa.Text),
)

endpoint_deployments = sa.Table(
    "endpoint_deployments",
    metadata,
    sa.Column("endpoint_id", _id, sa.ForeignKey("endpoints.id"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("traffic", sa.Integer, nullable=False),
)

# -- audit (migration 0004) -------------------------------------------------------------

# Append-only: the audit store inserts rows and never updates or deletes one. Each row holds
# the hash of the one before it (``prev_hash``) and its own (``hash``), see usina/audit/chain.py.
audit_records = sa.Table(
    "audit_records",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("time", sa.Double, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(128), nullable=False),
    sa.Column("resource", sa.String(512), nullable=False),
    sa.Column("decision", sa.String(8), nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("client", sa.String(128), nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Index("ix_audit_records_actor", "actor", "seq"),
    sa.Index("ix_audit_records_resource", "resource", "seq"),
    sa.Index("ix_audit_records_action", "action", "seq"),
    sa.Index("ix_audit_records_time", "time"),
)

# One row (id 1): the last record's seq and hash. Appends lock it (FOR UPDATE on PostgreSQL;
# SQLite's BEGIN IMMEDIATE serialises writers anyway), so the chain stays linear.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# -- identity (migration 0005) ------------------------------------------------------------

# Users, groups and service accounts in one table: a principal is ``kind:name``. Only users
# have a password hash (argon2); service accounts hold tokens only.
principals = sa.Table(
    "principals",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("password_hash", sa.String(256)),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.UniqueConstraint("kind", "name", name="uq_principals_kind_name"),
)

group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("group_id", _id, sa.ForeignKey("principals.id"), primary_key=True),
    sa.Column("member_id", _id, sa.ForeignKey("principals.id"), primary_key=True),
    sa.Index("ix_group_members_member", "member_id"),
)

# Custom roles; the predefined ones are data in usina.identity.permissions.
roles = sa.Table(
    "roles",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("permissions", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
)

role_bindings = sa.Table(
    "role_bindings",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("principal_id", _id, sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("role", sa.String(128), nullable=False),
    sa.Column("resource", sa.String(512), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.UniqueConstraint("principal_id", "role", "resource", name="uq_role_bindings"),
)

# Tokens are kept only as the SHA-256 of their secret; ``id`` is the public handle.
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("principal_id", _id, sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("revoked_at", sa.Double),
    sa.Column("last_used_at", sa.Double),
    sa.Index("ix_tokens_principal", "principal_id"),
)

# Failed logins by login name (existing or not, so answers do not tell which names exist);
# kept in the database so every worker sees a lockout.
login_attempts = sa.Table(
    "login_attempts",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("window_start", sa.Double, nullable=False),
    sa.Column("locked_until", sa.Double),
)

# One row per bootstrap token ever exchanged (its SHA-256), so each is used once.
bootstrap_uses = sa.Table(
    "bootstrap_uses",
    metadata,
    sa.Column("secret_hash", sa.String(64), primary_key=True),
    sa.Column("used_at", sa.Double, nullable=False),
    sa.Column("user_name", sa.String(128), nullable=False),
)

# -- alerts (migration 0006) --------------------------------------------------------------

# One row per breach of a monitor's check. ``firing_key`` is ``monitor`` NUL ``check`` while the
# alert fires and NULL once resolved: its unique index lets one firing alert exist per check,
# whichever process observes it.
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("monitor", sa.String(256), nullable=False),
    sa.Column("check_name", sa.String(256), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("firing_key", sa.String(520), unique=True),
    sa.Column("value", sa.Double),
    sa.Column("threshold", sa.Double),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("channels", sa.Text, nullable=False),
    sa.Column("first_seen", sa.Double, nullable=False),
    sa.Column("last_seen", sa.Double, nullable=False),
    sa.Column("resolved_at", sa.Double),
    sa.Column("notifications", sa.Integer, nullable=False),
    sa.Column("last_sent", sa.Double),
    sa.Index("ix_alerts_monitor", "monitor", "check_name", "id"),
    sa.Index("ix_alerts_state", "state", "id"),
)

# What became of each notification of an alert on each channel.
alert_deliveries = sa.Table(
    "alert_deliveries",
    metadata,
    sa.Column("alert_id", _id, sa.ForeignKey("alerts.id"), primary_key=True),
    sa.Column("notification", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(1024), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("finished_at", sa.Double),
)


# -- monitoring (migration 0007) ----------------------------------------------------------

# Ground truth that arrives after the prediction: one label per (endpoint, request, row of the
# request); a later label for the same row replaces the earlier one.
labels = sa.Table(
    "labels",
    metadata,
    sa.Column("endpoint", sa.String(128), primary_key=True),
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("row", sa.Integer, primary_key=True),
    sa.Column("label", sa.Text, nullable=False),  # a JSON scalar
    sa.Column("time", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Index("ix_labels_endpoint_time", "endpoint", "time"),
)

monitors = sa.Table(
    "monitors",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("endpoint", sa.String(128), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),  # JSON: window, schedule, thresholds, alerts
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
)

monitor_runs = sa.Table(
    "monitor_runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("monitor", sa.String(128), nullable=False),
    sa.Column("window_start", sa.Double, nullable=False),
    sa.Column("window_end", sa.Double, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("figures", sa.Text, nullable=False),  # JSON
    sa.Column("breaches", sa.Text, nullable=False),  # JSON list
    sa.Column("error", sa.Text),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("seconds", sa.Double, nullable=False),
    sa.Index("ix_monitor_runs_monitor", "monitor", "window_end"),
)


# -- batch jobs (migrations 0008, 0009) ---------------------------------------------------

# One run of a batch prediction job; ``version`` is what ``model_uri`` resolved to at its start.
batch_jobs = sa.Table(
    "batch_jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("model_uri", sa.Text, nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("output", sa.String(128), nullable=False),
    sa.Column("partition", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("rows_in", sa.BigInteger, nullable=False),
    sa.Column("rows_out", sa.BigInteger, nullable=False),
    sa.Column("rows_rejected", sa.BigInteger, nullable=False),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("ended_at", sa.Double),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("files", sa.Text, nullable=False),
    sa.Column("trigger", sa.String(512), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    # Beaten by the job's process while it runs; null only on rows from before 0009.
    sa.Column("heartbeat_at", sa.Double),
    sa.Index("ix_batch_jobs_started", "started_at"),
    sa.Index("ix_batch_jobs_name", "name", "started_at"),
    sa.Index("ix_batch_jobs_status_heartbeat", "status", "heartbeat_at"),
)


# -- topics (migration 0011) ---------------------------------------------------------------

# A topic: the schema of its records (JSON list of columns) and its retention. Its messages live
# in the topic log (USINA_TOPICS_URL), not here.
topics = sa.Table(
    "topics",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("columns", sa.Text, nullable=False),
    sa.Column("max_age", sa.Double),
    sa.Column("max_messages", sa.BigInteger),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
)


# A secret's value is sealed (``usina.crypto.sealing``) with the master key, bound to its name;
# ``key_id`` names the key that sealed it, so a rotated ring still opens it.
secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False),
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("latest", sa.Integer, nullable=False),
    sa.Column("expectations", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    # The PII policy every new version is written under (JSON); NULL: none.
    sa.Column("pii_policy", sa.Text),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column("name", sa.String(128), sa.ForeignKey("datasets.name"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("columns", sa.Text, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("profile", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    # The digest of the dataset's PII policy the version was written under; "" for none.
    sa.Column("pii_policy", sa.String(64), nullable=False, server_default=""),
    sa.Index("ix_dataset_versions_digest", "name", "digest"),
)


# -- policies (migration 0013) ------------------------------------------------------------

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),  # JSON: the checked spec and its source text
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False),
)

# One row per policy: where its loop stands. Every change is a compare-and-set on
# (state, generation), in the transaction that appends the decision's event.
policy_rollouts = sa.Table(
    "policy_rollouts",
    metadata,
    sa.Column("policy", sa.String(128), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("champion", sa.Integer),
    sa.Column("candidate", sa.Integer),
    sa.Column("since", sa.Double, nullable=False),
    sa.Column("seen_upto", sa.Double, nullable=False),
    sa.Column("breaches", sa.Integer, nullable=False),
    sa.Column("last_retrain", sa.Double),
    sa.Column("holder", sa.String(128)),
    sa.Column("data", sa.Text, nullable=False),  # JSON
    sa.Column("updated_at", sa.Double, nullable=False),
)

# Append-only: one row per decision. (policy, generation) is unique, so a decision taken by
# two schedulers at once is recorded once.
policy_events = sa.Table(
    "policy_events",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("policy", sa.String(128), nullable=False),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("version", sa.Integer),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("figures", sa.Text, nullable=False),  # JSON
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.UniqueConstraint("policy", "generation", name="uq_policy_events_generation"),
    sa.Index("ix_policy_events_policy", "policy", "id"),
    sa.Index("ix_policy_events_model", "model", "id"),
)
