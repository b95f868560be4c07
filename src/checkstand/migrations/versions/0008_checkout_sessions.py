"""checkout sessions and their line items

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkout_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("secure_token", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("success_url", sa.String(length=2048), nullable=False),
        sa.Column("return_url", sa.String(length=2048), nullable=False),
        sa.Column("expires_in_hours", sa.Integer(), nullable=False),
        sa.Column("expires_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expired_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_subtotal_atom", sa.BigInteger(), nullable=False),
        sa.Column("amount_discount_atom", sa.BigInteger(), nullable=False),
        sa.Column("amount_total_atom", sa.BigInteger(), nullable=False),
        sa.Column("tier_amounts", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("cascade_routes", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("succeeded_tier", sa.Integer(), nullable=True),
        sa.Column("coupon_id", sa.String(length=64), nullable=True),
        sa.Column("promotion_code_id", sa.String(length=64), nullable=True),
        sa.Column("promotion_code", sa.String(length=64), nullable=True),
        sa.Column("discount", checkstand.db.JSONDocument(), nullable=True),
        sa.Column("processor_route_id", sa.String(length=64), nullable=True),
        sa.Column("three_ds_mode", sa.String(length=32), nullable=True),
        sa.Column("custom_fields", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("subscription_custom_fields", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("metadata", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_checkout_sessions_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_checkout_sessions_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_sessions")),
        sa.UniqueConstraint("secure_token", name=op.f("uq_checkout_sessions_secure_token")),
    )
    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_checkout_sessions_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index("ix_checkout_sessions_account_customer", ["account_id", "customer_id"], unique=False)
        batch_op.create_index("ix_checkout_sessions_account_route", ["account_id", "processor_route_id"], unique=False)
        batch_op.create_index("ix_checkout_sessions_status_expires", ["status", "expires_at"], unique=False)
    op.create_table(
        "checkout_line_items",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("price_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("product_name", sa.String(length=250), nullable=False),
        sa.Column("price_name", sa.String(length=250), nullable=True),
        sa.Column("unit_amount_atom", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("recurring_interval", sa.String(length=8), nullable=True),
        sa.Column("recurring_interval_count", sa.Integer(), nullable=True),
        sa.Column("trial_days", sa.Integer(), nullable=False),
        sa.Column("amount_subtotal_atom", sa.BigInteger(), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_checkout_line_items_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["price_id"], ["prices.id"], name=op.f("fk_checkout_line_items_price_id_prices")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_checkout_line_items_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["checkout_sessions.id"],
            name=op.f("fk_checkout_line_items_session_id_checkout_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_line_items")),
        sa.UniqueConstraint(
            "session_id", "tier", "position", name=op.f("uq_checkout_line_items_session_id_tier_position")
        ),
    )


def downgrade() -> None:
    op.drop_table("checkout_line_items")
    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_checkout_sessions_status_expires")
        batch_op.drop_index("ix_checkout_sessions_account_route")
        batch_op.drop_index("ix_checkout_sessions_account_customer")
        batch_op.drop_index("ix_checkout_sessions_account_created")
    op.drop_table("checkout_sessions")
