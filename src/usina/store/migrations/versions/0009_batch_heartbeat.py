"""Batch job heartbeats: a running job's process beats ``heartbeat_at``; readers fail a job
whose heartbeat goes stale.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("batch_jobs", sa.Column("heartbeat_at", sa.Double))
    # A job recorded before heartbeats existed counts from its start: one still "running"
    # after the timeout was killed (it never beat) and is read as failed.
    op.execute("UPDATE batch_jobs SET heartbeat_at = started_at")
    op.create_index("ix_batch_jobs_status_heartbeat", "batch_jobs", ["status", "heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_batch_jobs_status_heartbeat", "batch_jobs")
    with op.batch_alter_table("batch_jobs") as batch:
        batch.drop_column("heartbeat_at")
