"""the Paid dialect's checkout options: offered plans, address and phone, reusable links, currencies, cards

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing sessions are PaymentKit's: nothing offered to pick from, nothing extra collected, single use.
    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("offered_products", checkstand.db.JSONDocument(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column("collect_address", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("collect_phone", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("single_use", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("made_from_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "allowed_currencies", checkstand.db.JSONDocument(), nullable=False, server_default=sa.text("'[]'")
            )
        )
        batch_op.add_column(
            sa.Column("custom_cards", checkstand.db.JSONDocument(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column("cancel_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("archived_at", checkstand.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("customer_phone", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("customer_address", checkstand.db.JSONDocument(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.drop_column("customer_address")
        batch_op.drop_column("customer_phone")
        batch_op.drop_column("archived_at")
        batch_op.drop_column("cancel_url")
        batch_op.drop_column("custom_cards")
        batch_op.drop_column("allowed_currencies")
        batch_op.drop_column("made_from_id")
        batch_op.drop_column("single_use")
        batch_op.drop_column("collect_phone")
        batch_op.drop_column("collect_address")
        batch_op.drop_column("offered_products")
