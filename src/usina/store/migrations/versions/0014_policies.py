"""Policies: what a monitor's breach does (retrain, gate, canary, promote, roll back), the state
of each policy's rollout, and the append-only record of every decision the loop takes.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "policy_rollouts",
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
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "policy_events",
        sa.Column("id", _id, primary_key=True, autoincrement=True),
        sa.Column("policy", sa.String(128), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("figures", sa.Text, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.UniqueConstraint("policy", "generation", name="uq_policy_events_generation"),
    )
    op.create_index("ix_policy_events_policy", "policy_events", ["policy", "id"])
    op.create_index("ix_policy_events_model", "policy_events", ["model", "id"])


def downgrade() -> None:
    op.drop_index("ix_policy_events_model", "policy_events")
    op.drop_index("ix_policy_events_policy", "policy_events")
    op.drop_table("policy_events")
    op.drop_table("policy_rollouts")
    op.drop_table("policies")
