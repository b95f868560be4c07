"""payment links: the links, the line items they sell, and their visits

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_links",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("secure_token", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("success_url", sa.String(length=2048), nullable=False),
        sa.Column("return_url", sa.String(length=2048), nullable=True),
        sa.Column("expires_in_hours", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("coupon_id", sa.String(length=64), nullable=True),
        sa.Column("promotion_code", sa.String(length=64), nullable=True),
        sa.Column("metadata", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_payment_links_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_payment_links_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_links")),
        sa.UniqueConstraint("secure_token", name=op.f("uq_payment_links_secure_token")),
    )
    with op.batch_alter_table("payment_links", schema=None) as batch_op:
        batch_op.create_index("ix_payment_links_account_created", ["account_id", "created_at"], unique=False)
    op.create_table(
        "payment_link_line_items",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("payment_link_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("price_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_payment_link_line_items_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["payment_link_id"],
            ["payment_links.id"],
            name=op.f("fk_payment_link_line_items_payment_link_id_payment_links"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["price_id"], ["prices.id"], name=op.f("fk_payment_link_line_items_price_id_prices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_link_line_items")),
    )
    with op.batch_alter_table("payment_link_line_items", schema=None) as batch_op:
        batch_op.create_index("ix_payment_link_line_items_link", ["payment_link_id", "position"], unique=False)
    op.create_table(
        "payment_link_visits",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("payment_link_id", sa.String(length=64), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=64), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_payment_link_visits_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["payment_link_id"],
            ["payment_links.id"],
            name=op.f("fk_payment_link_visits_payment_link_id_payment_links"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["checkout_session_id"],
            ["checkout_sessions.id"],
            name=op.f("fk_payment_link_visits_checkout_session_id_checkout_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_link_visits")),
        sa.UniqueConstraint("checkout_session_id", name=op.f("uq_payment_link_visits_checkout_session_id")),
    )
    with op.batch_alter_table("payment_link_visits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payment_link_visits_link_ip_created", ["payment_link_id", "client_ip", "created_at"], unique=False
        )
        batch_op.create_index("ix_payment_link_visits_link_created", ["payment_link_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("payment_link_visits")
    op.drop_table("payment_link_line_items")
    op.drop_table("payment_links")
