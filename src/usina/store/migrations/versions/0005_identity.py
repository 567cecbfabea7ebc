"""Identity: principals (users, groups, service accounts), group members, custom roles, role
bindings, tokens (stored as hashes), failed logins and used bootstrap tokens.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "principals",
        sa.Column("id", _id, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("password_hash", sa.String(256)),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.UniqueConstraint("kind", "name", name="uq_principals_kind_name"),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", _id, sa.ForeignKey("principals.id"), primary_key=True),
        sa.Column("member_id", _id, sa.ForeignKey("principals.id"), primary_key=True),
    )
    op.create_index("ix_group_members_member", "group_members", ["member_id"])
    op.create_table(
        "roles",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("permissions", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "role_bindings",
        sa.Column("id", _id, primary_key=True, autoincrement=True),
        sa.Column("principal_id", _id, sa.ForeignKey("principals.id"), nullable=False),
        sa.Column("role", sa.String(128), nullable=False),
        sa.Column("resource", sa.String(512), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.UniqueConstraint("principal_id", "role", "resource", name="uq_role_bindings"),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("principal_id", _id, sa.ForeignKey("principals.id"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False, server_default=""),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double),
        sa.Column("last_used_at", sa.Double),
    )
    op.create_index("ix_tokens_principal", "tokens", ["principal_id"])
    op.create_table(
        "login_attempts",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_start", sa.Double, nullable=False),
        sa.Column("locked_until", sa.Double),
    )
    op.create_table(
        "bootstrap_uses",
        sa.Column("secret_hash", sa.String(64), primary_key=True),
        sa.Column("used_at", sa.Double, nullable=False),
        sa.Column("user_name", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bootstrap_uses")
    op.drop_table("login_attempts")
    op.drop_index("ix_tokens_principal", "tokens")
    op.drop_table("tokens")
    op.drop_table("role_bindings")
    op.drop_table("roles")
    op.drop_index("ix_group_members_member", "group_members")
    op.drop_table("group_members")
    op.drop_table("principals")
