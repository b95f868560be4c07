"""dashboard users and their sign-in sessions, one-time sign-in links and failed sign-ins

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("last_signed_in_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_dashboard_users_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_users")),
        sa.UniqueConstraint("email", name=op.f("uq_dashboard_users_email")),
    )
    with op.batch_alter_table("dashboard_users", schema=None) as batch_op:
        batch_op.create_index("ix_dashboard_users_account_created", ["account_id", "created_at"], unique=False)

    op.create_table(
        "dashboard_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_dashboard_sessions_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["dashboard_users.id"],
            name=op.f("fk_dashboard_sessions_user_id_dashboard_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_dashboard_sessions")),
    )
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dashboard_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "dashboard_sign_in_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["dashboard_users.id"],
            name=op.f("fk_dashboard_sign_in_links_user_id_dashboard_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_dashboard_sign_in_links")),
    )
    with op.batch_alter_table("dashboard_sign_in_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dashboard_sign_in_links_user_id"), ["user_id"], unique=False)

    op.create_table(
        "dashboard_sign_in_failures",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sign_in_failures")),
    )
    with op.batch_alter_table("dashboard_sign_in_failures", schema=None) as batch_op:
        batch_op.create_index("ix_dashboard_sign_in_failures_email_created", ["email", "created_at"], unique=False)
        batch_op.create_index("ix_dashboard_sign_in_failures_ip_created", ["client_ip", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("dashboard_sign_in_failures")
    op.drop_table("dashboard_sign_in_links")
    op.drop_table("dashboard_sessions")
    op.drop_table("dashboard_users")
