"""Audit: the hash-chained, append-only audit log (one row per record) and its head (the last
record's seq and hash, locked by every append). Independent of every other table.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table(
        "audit_records",
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
    )
    op.create_index("ix_audit_records_actor", "audit_records", ["actor", "seq"])
    op.create_index("ix_audit_records_resource", "audit_records", ["resource", "seq"])
    op.create_index("ix_audit_records_action", "audit_records", ["action", "seq"])
    op.create_index("ix_audit_records_time", "audit_records", ["time"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_index("ix_audit_records_time", "audit_records")
    op.drop_index("ix_audit_records_action", "audit_records")
    op.drop_index("ix_audit_records_resource", "audit_records")
    op.drop_index("ix_audit_records_actor", "audit_records")
    op.drop_table("audit_records")
