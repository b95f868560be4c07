"""receipt emails

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "receipt_emails",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("retrying_since", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("locked_until", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_receipt_emails_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_receipt_emails_payment_id_payments"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_emails")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_receipt_emails_payment_id")),
    )
    with op.batch_alter_table("receipt_emails", schema=None) as batch_op:
        batch_op.create_index("ix_receipt_emails_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index("ix_receipt_emails_due", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_table("receipt_emails")
