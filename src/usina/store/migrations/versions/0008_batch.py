"""Batch jobs: one row per run of a batch prediction job, with the version it resolved.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_jobs",
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
    )
    op.create_index("ix_batch_jobs_started", "batch_jobs", ["started_at"])
    op.create_index("ix_batch_jobs_name", "batch_jobs", ["name", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_batch_jobs_name", "batch_jobs")
    op.drop_index("ix_batch_jobs_started", "batch_jobs")
    op.drop_table("batch_jobs")
