"""packages, meter events and a metered price's usage aggregation

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "packages",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("allow_monthly", sa.Boolean(), nullable=False),
        sa.Column("allow_annual", sa.Boolean(), nullable=False),
        sa.Column("default_billing_cycle", sa.String(length=8), nullable=False),
        sa.Column("metadata", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("deleted_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_packages_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packages")),
    )
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.create_index("ix_packages_account_created", ["account_id", "created_at"], unique=False)

    op.create_table(
        "package_items",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("package_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("monthly_price_id", sa.String(length=64), nullable=True),
        sa.Column("annual_price_id", sa.String(length=64), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["annual_price_id"], ["prices.id"], name=op.f("fk_package_items_annual_price_id_prices")
        ),
        sa.ForeignKeyConstraint(
            ["monthly_price_id"], ["prices.id"], name=op.f("fk_package_items_monthly_price_id_prices")
        ),
        sa.ForeignKeyConstraint(
            ["package_id"], ["packages.id"], name=op.f("fk_package_items_package_id_packages"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_package_items_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_package_items")),
    )
    with op.batch_alter_table("package_items", schema=None) as batch_op:
        batch_op.create_index("ix_package_items_package", ["package_id"], unique=False)

    op.create_table(
        "meter_events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("metered_id", sa.String(length=100), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("identifier", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=True),
        sa.Column("metadata", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_meter_events_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_meter_events_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_meter_events_subscription_id_subscriptions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_events")),
        sa.UniqueConstraint("account_id", "identifier", name="uq_meter_events_account_identifier"),
    )
    with op.batch_alter_table("meter_events", schema=None) as batch_op:
        batch_op.create_index("ix_meter_events_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index(
            "ix_meter_events_customer_meter_time", ["customer_id", "metered_id", "occurred_at"], unique=False
        )

    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("usage_aggregation", sa.String(length=8), nullable=False, server_default="sum"))
        # A bulk migration marks the subscription items it moves (subscription_items.migrate_to_price_id), not the
        # price: a mark on the price can't tell the subscriptions held at the call from ones sold later.
        batch_op.drop_column("migrate_to_price_id")

    # The price a bulk migration moves an item to at its subscription's next renewal.
    with op.batch_alter_table("subscription_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("migrate_to_price_id", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_subscription_items_migrate_to_price_id_prices"), "prices", ["migrate_to_price_id"], ["id"]
        )

    with op.batch_alter_table("checkout_line_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("package_id", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_checkout_line_items_package_id_packages"), "packages", ["package_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("checkout_line_items", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_checkout_line_items_package_id_packages"), type_="foreignkey")
        batch_op.drop_column("package_id")

    with op.batch_alter_table("subscription_items", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_subscription_items_migrate_to_price_id_prices"), type_="foreignkey")
        batch_op.drop_column("migrate_to_price_id")

    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("migrate_to_price_id", sa.String(length=64), nullable=True))
        batch_op.drop_column("usage_aggregation")

    with op.batch_alter_table("meter_events", schema=None) as batch_op:
        batch_op.drop_index("ix_meter_events_customer_meter_time")
        batch_op.drop_index("ix_meter_events_account_created")

    op.drop_table("meter_events")
    with op.batch_alter_table("package_items", schema=None) as batch_op:
        batch_op.drop_index("ix_package_items_package")

    op.drop_table("package_items")
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.drop_index("ix_packages_account_created")

    op.drop_table("packages")
