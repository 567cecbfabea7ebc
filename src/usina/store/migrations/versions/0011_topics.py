"""Topics: a name, the schema its records follow and its retention.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "topics",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("columns", sa.Text, nullable=False),
        sa.Column("max_age", sa.Double),
        sa.Column("max_messages", sa.BigInteger),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("topics")
