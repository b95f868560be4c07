"""subscriptions and their items

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("billing_interval", sa.String(length=8), nullable=False),
        sa.Column("billing_interval_count", sa.Integer(), nullable=False),
        sa.Column("current_period_start", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("current_period_end", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("trial_start", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("trial_end", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("canceled_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("payment_method_reference", sa.String(length=255), nullable=True),
        sa.Column("processor_id", sa.String(length=64), nullable=True),
        sa.Column("coupon_id", sa.String(length=64), nullable=True),
        sa.Column("discount", checkstand.db.JSONDocument(), nullable=True),
        sa.Column("custom_fields", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("metadata", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_subscriptions_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["checkout_session_id"],
            ["checkout_sessions.id"],
            name=op.f("fk_subscriptions_checkout_session_id_checkout_sessions"),
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_subscriptions_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("checkout_session_id", name=op.f("uq_subscriptions_checkout_session_id")),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_subscriptions_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index("ix_subscriptions_account_customer", ["account_id", "customer_id"], unique=False)

    op.create_table(
        "subscription_items",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("price_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("product_name", sa.String(length=250), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_amount_atom", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_subscription_items_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["price_id"], ["prices.id"], name=op.f("fk_subscription_items_price_id_prices")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_subscription_items_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_items_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_items")),
        sa.UniqueConstraint("subscription_id", "position", name=op.f("uq_subscription_items_subscription_id_position")),
    )


def downgrade() -> None:
    op.drop_table("subscription_items")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_account_customer")
        batch_op.drop_index("ix_subscriptions_account_created")

    op.drop_table("subscriptions")
