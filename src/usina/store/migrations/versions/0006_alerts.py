"""Alerts: one row per breach of a monitor's check (firing, then resolved), with at most one
firing alert per check (a unique key set only while it fires), and the delivery of each of its
notifications on each channel.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alerts",
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
    )
    op.create_index("ix_alerts_monitor", "alerts", ["monitor", "check_name", "id"])
    op.create_index("ix_alerts_state", "alerts", ["state", "id"])
    op.create_table(
        "alert_deliveries",
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


def downgrade() -> None:
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alerts_state", "alerts")
    op.drop_index("ix_alerts_monitor", "alerts")
    op.drop_table("alerts")
