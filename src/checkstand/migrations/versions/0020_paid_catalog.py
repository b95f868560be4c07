"""the Paid dialect's catalog and customers: external ids, plan order

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every new column is nullable: existing rows have no external id, product code, plan order, website, churn mark
    # or deletion, which is what null says.
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("product_code", sa.String(length=100), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_products_account_id_external_id"), ["account_id", "external_id"]
        )
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("upgrade_path_order", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_prices_account_id_external_id"), ["account_id", "external_id"])
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("website", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("churned_at", checkstand.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", checkstand.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("churned_at")
        batch_op.drop_column("website")
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_prices_account_id_external_id"), type_="unique")
        batch_op.drop_column("upgrade_path_order")
        batch_op.drop_column("external_id")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_products_account_id_external_id"), type_="unique")
        batch_op.drop_column("product_code")
        batch_op.drop_column("external_id")
