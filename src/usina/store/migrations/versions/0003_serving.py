"""Serving: endpoints (an alias to follow or explicit deployments, shadow, sampling, batching)
and their deployments with a traffic split.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("id", _id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("alias", sa.String(128)),
        sa.Column("shadow_version", sa.Integer),
        sa.Column("sample_rate", sa.Double, nullable=False, server_default="1.0"),
        sa.Column("max_batch_size", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_latency_ms", sa.Double, nullable=False, server_default="5.0"),
        sa.Column("generation", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "endpoint_deployments",
        sa.Column("endpoint_id", _id, sa.ForeignKey("endpoints.id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("traffic", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("endpoint_deployments")
    op.drop_table("endpoints")
