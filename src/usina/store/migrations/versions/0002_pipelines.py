"""Pipelines: pipeline runs, step runs (with their cache keys), artifact links for lineage,
schedules, schedule fires (one row per fired tick) and leases (one scheduler leads at a time).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
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
    )
    op.create_index("ix_pipeline_runs_pipeline_start", "pipeline_runs", ["pipeline", "start_time"])
    op.create_table(
        "step_runs",
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
    )
    op.create_index("ix_step_runs_pipeline_run", "step_runs", ["pipeline_run_id"])
    op.create_index("ix_step_runs_cache_key", "step_runs", ["cache_key", "status"])
    op.create_table(
        "artifact_links",
        sa.Column("step_run_id", sa.String(32), primary_key=True),
        sa.Column("role", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rows", sa.BigInteger),
    )
    op.create_index("ix_artifact_links_digest", "artifact_links", ["digest", "role"])
    op.create_table(
        "schedules",
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
    op.create_table(
        "schedule_fires",
        sa.Column("schedule", sa.String(256), primary_key=True),
        sa.Column("tick", sa.Double, primary_key=True),
        sa.Column("fired_at", sa.Double, nullable=False),
        sa.Column("fired_by", sa.String(128), nullable=False),
        sa.Column("missed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("pipeline_run_id", sa.String(32)),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "leases",
        "schedule_fires",
        "schedules",
        "artifact_links",
        "step_runs",
        "pipeline_runs",
    ):
        op.drop_table(table)
