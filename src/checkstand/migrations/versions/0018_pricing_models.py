"""pricing models: tiers, packages, metered usage, add-ons, exclusive prices, contract terms

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing prices are flat per-unit, licensed, renewing prices with no restrictions.
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("billing_scheme", sa.String(length=16), nullable=False, server_default="per_unit")
        )
        batch_op.add_column(sa.Column("tiers_mode", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("tiers", checkstand.db.JSONDocument(), nullable=True))
        batch_op.add_column(sa.Column("quantity_divisor", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("usage_type", sa.String(length=16), nullable=False, server_default="licensed"))
        batch_op.add_column(sa.Column("metered_id", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column(
                "prerequisite_price_ids", checkstand.db.JSONDocument(), nullable=False, server_default=sa.text("'[]'")
            )
        )
        batch_op.add_column(
            sa.Column(
                "exclusive_customer_ids", checkstand.db.JSONDocument(), nullable=False, server_default=sa.text("'[]'")
            )
        )
        batch_op.add_column(sa.Column("contract_term_multiple", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("auto_renew", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("migrate_to_price_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.drop_column("migrate_to_price_id")
        batch_op.drop_column("auto_renew")
        batch_op.drop_column("contract_term_multiple")
        batch_op.drop_column("exclusive_customer_ids")
        batch_op.drop_column("prerequisite_price_ids")
        batch_op.drop_column("metered_id")
        batch_op.drop_column("usage_type")
        batch_op.drop_column("quantity_divisor")
        batch_op.drop_column("tiers")
        batch_op.drop_column("tiers_mode")
        batch_op.drop_column("billing_scheme")
