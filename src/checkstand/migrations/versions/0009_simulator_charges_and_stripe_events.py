"""simulator charges and stripe events

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 20:18:38.211219
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "simulator_charges",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("processor_id", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("amount_atom", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("decline_code", sa.String(length=64), nullable=True),
        sa.Column("challenge_token", sa.String(length=100), nullable=True),
        sa.Column("return_url", sa.String(length=2048), nullable=True),
        sa.Column("saved_payment_method", sa.String(length=64), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_simulator_charges_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["processor_id"], ["processors.id"], name=op.f("fk_simulator_charges_processor_id_processors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulator_charges")),
        sa.UniqueConstraint("challenge_token", name=op.f("uq_simulator_charges_challenge_token")),
        sa.UniqueConstraint(
            "processor_id", "idempotency_key", name=op.f("uq_simulator_charges_processor_id_idempotency_key")
        ),
    )
    op.create_index(
        op.f("ix_simulator_charges_saved_payment_method"), "simulator_charges", ["saved_payment_method"], unique=False
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("processor_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("payload", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("received_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("processed_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_stripe_events_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["processor_id"], ["processors.id"], name=op.f("fk_stripe_events_processor_id_processors")
        ),
        sa.PrimaryKeyConstraint("id", "processor_id", name=op.f("pk_stripe_events")),
    )


def downgrade() -> None:
    op.drop_table("stripe_events")
    op.drop_index(op.f("ix_simulator_charges_saved_payment_method"), table_name="simulator_charges")
    op.drop_table("simulator_charges")
