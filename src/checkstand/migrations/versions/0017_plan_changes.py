"""plan changes: upgrade paths, pending invoice items, customer credit, plan-change sessions

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "upgrade_paths",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("source_product_id", sa.String(length=64), nullable=True),
        sa.Column("target_product_id", sa.String(length=64), nullable=True),
        sa.Column("source_price_id", sa.String(length=64), nullable=True),
        sa.Column("target_price_id", sa.String(length=64), nullable=True),
        sa.Column("transition_type", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_upgrade_paths_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["source_price_id"], ["prices.id"], name=op.f("fk_upgrade_paths_source_price_id_prices")
        ),
        sa.ForeignKeyConstraint(
            ["source_product_id"], ["products.id"], name=op.f("fk_upgrade_paths_source_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["target_price_id"], ["prices.id"], name=op.f("fk_upgrade_paths_target_price_id_prices")
        ),
        sa.ForeignKeyConstraint(
            ["target_product_id"], ["products.id"], name=op.f("fk_upgrade_paths_target_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upgrade_paths")),
    )
    with op.batch_alter_table("upgrade_paths", schema=None) as batch_op:
        batch_op.create_index("ix_upgrade_paths_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index(
            "ix_upgrade_paths_account_source_product", ["account_id", "source_product_id"], unique=False
        )

    op.create_table(
        "pending_invoice_items",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("price_id", sa.String(length=64), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_atom", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period_start", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("period_end", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_pending_invoice_items_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_pending_invoice_items_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_pending_invoice_items_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(["price_id"], ["prices.id"], name=op.f("fk_pending_invoice_items_price_id_prices")),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_pending_invoice_items_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_invoice_items")),
    )
    with op.batch_alter_table("pending_invoice_items", schema=None) as batch_op:
        batch_op.create_index("ix_pending_invoice_items_subscription", ["subscription_id", "invoice_id"], unique=False)

    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("changes_subscription_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("proration", checkstand.db.JSONDocument(), nullable=True))
        batch_op.add_column(sa.Column("proration_date", checkstand.db.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scheduled_change", checkstand.db.JSONDocument(), nullable=True))

    with op.batch_alter_table("customers", schema=None) as batch_op:
        # Existing customers hold no credit.
        batch_op.add_column(
            sa.Column("credit_balance_atom", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(sa.Column("credit_balance_currency", sa.String(length=3), nullable=True))

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan_change", checkstand.db.JSONDocument(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("scheduled_change")

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("plan_change")

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("credit_balance_currency")
        batch_op.drop_column("credit_balance_atom")

    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.drop_column("proration_date")
        batch_op.drop_column("proration")
        batch_op.drop_column("changes_subscription_id")

    with op.batch_alter_table("pending_invoice_items", schema=None) as batch_op:
        batch_op.drop_index("ix_pending_invoice_items_subscription")

    op.drop_table("pending_invoice_items")
    with op.batch_alter_table("upgrade_paths", schema=None) as batch_op:
        batch_op.drop_index("ix_upgrade_paths_account_source_product")
        batch_op.drop_index("ix_upgrade_paths_account_created")

    op.drop_table("upgrade_paths")
