"""PII policies on records: a dataset's (applied to every version written into it, whose
record names the policy it was written under) and an endpoint's request-log policy.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("datasets", sa.Column("pii_policy", sa.Text, nullable=True))
    op.add_column(
        "dataset_versions",
        sa.Column("pii_policy", sa.String(64), nullable=False, server_default=""),
    )
    op.add_column("endpoints", sa.Column("log_policy", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("endpoints") as batch:
        batch.drop_column("log_policy")
    with op.batch_alter_table("dataset_versions") as batch:
        batch.drop_column("pii_policy")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("pii_policy")
