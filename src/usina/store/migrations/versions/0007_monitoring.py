"""Monitoring: late labels of logged requests, monitors and the record of their runs.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "labels",
        sa.Column("endpoint", sa.String(128), primary_key=True),
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("row", sa.Integer, primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("time", sa.Double, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_labels_endpoint_time", "labels", ["endpoint", "time"])
    op.create_table(
        "monitors",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "monitor_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("monitor", sa.String(128), nullable=False),
        sa.Column("window_start", sa.Double, nullable=False),
        sa.Column("window_end", sa.Double, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("figures", sa.Text, nullable=False),
        sa.Column("breaches", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("seconds", sa.Double, nullable=False),
    )
    op.create_index("ix_monitor_runs_monitor", "monitor_runs", ["monitor", "window_end"])


def downgrade() -> None:
    op.drop_index("ix_monitor_runs_monitor", "monitor_runs")
    op.drop_table("monitor_runs")
    op.drop_table("monitors")
    op.drop_index("ix_labels_endpoint_time", "labels")
    op.drop_table("labels")
