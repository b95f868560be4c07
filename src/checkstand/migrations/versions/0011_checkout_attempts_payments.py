"""checkout attempts, processor attempts, their transitions, and payments

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkout_attempts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("submitted_customer_info", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("payment_method_reference", sa.String(length=255), nullable=True),
        sa.Column("three_ds_mode", sa.String(length=32), nullable=True),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("action_url", sa.String(length=2048), nullable=True),
        sa.Column("decline_code", sa.String(length=64), nullable=True),
        sa.Column("error_message_for_customer", sa.String(length=500), nullable=True),
        sa.Column("error_message_for_debug", sa.String(length=1000), nullable=True),
        sa.Column("subscription_id", sa.String(length=64), nullable=True),
        sa.Column("saved_payment_method", sa.String(length=255), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_checkout_attempts_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["checkout_session_id"],
            ["checkout_sessions.id"],
            name=op.f("fk_checkout_attempts_checkout_session_id_checkout_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_checkout_attempts_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_attempts")),
    )
    with op.batch_alter_table("checkout_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_checkout_attempts_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index("ix_checkout_attempts_ip_created", ["client_ip", "created_at"], unique=False)
        batch_op.create_index(
            "ix_checkout_attempts_session_created", ["checkout_session_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_checkout_attempts_state_updated", ["state", "updated_at"], unique=False)

    op.create_table(
        "attempt_transitions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("checkout_attempt_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=False),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("context", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_attempt_transitions_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["checkout_attempt_id"],
            ["checkout_attempts.id"],
            name=op.f("fk_attempt_transitions_checkout_attempt_id_checkout_attempts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempt_transitions")),
        sa.UniqueConstraint(
            "checkout_attempt_id", "position", name=op.f("uq_attempt_transitions_checkout_attempt_id_position")
        ),
    )
    op.create_table(
        "processor_attempts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("checkout_attempt_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("processor_id", sa.String(length=64), nullable=False),
        sa.Column("processor_name", sa.String(length=100), nullable=False),
        sa.Column("disposition", sa.String(length=32), nullable=False),
        sa.Column("charge_status", sa.String(length=32), nullable=False),
        sa.Column("skip_reason", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("amount_atom", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("decline_code", sa.String(length=64), nullable=True),
        sa.Column("processor_reference", sa.String(length=255), nullable=True),
        sa.Column("processor_message", sa.String(length=1000), nullable=True),
        sa.Column("action_url", sa.String(length=2048), nullable=True),
        sa.Column("saved_payment_method", sa.String(length=255), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_processor_attempts_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["checkout_attempt_id"],
            ["checkout_attempts.id"],
            name=op.f("fk_processor_attempts_checkout_attempt_id_checkout_attempts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["processor_id"], ["processors.id"], name=op.f("fk_processor_attempts_processor_id_processors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processor_attempts")),
        sa.UniqueConstraint(
            "checkout_attempt_id", "position", name=op.f("uq_processor_attempts_checkout_attempt_id_position")
        ),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_processor_attempts_idempotency_key")),
    )
    with op.batch_alter_table("processor_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_processor_attempts_account_created", ["account_id", "created_at"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=64), nullable=False),
        sa.Column("checkout_attempt_id", sa.String(length=64), nullable=False),
        sa.Column("processor_attempt_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("processor_id", sa.String(length=64), nullable=False),
        sa.Column("processor_reference", sa.String(length=255), nullable=True),
        sa.Column("payment_method_reference", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("amount_atom", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_payments_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["checkout_attempt_id"],
            ["checkout_attempts.id"],
            name=op.f("fk_payments_checkout_attempt_id_checkout_attempts"),
        ),
        sa.ForeignKeyConstraint(
            ["checkout_session_id"],
            ["checkout_sessions.id"],
            name=op.f("fk_payments_checkout_session_id_checkout_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_payments_customer_id_customers")),
        sa.ForeignKeyConstraint(
            ["processor_attempt_id"],
            ["processor_attempts.id"],
            name=op.f("fk_payments_processor_attempt_id_processor_attempts"),
        ),
        sa.ForeignKeyConstraint(["processor_id"], ["processors.id"], name=op.f("fk_payments_processor_id_processors")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("checkout_session_id", name=op.f("uq_payments_checkout_session_id")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_account_created", ["account_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_account_created")

    op.drop_table("payments")
    with op.batch_alter_table("processor_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_processor_attempts_account_created")

    op.drop_table("processor_attempts")
    op.drop_table("attempt_transitions")
    with op.batch_alter_table("checkout_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_checkout_attempts_state_updated")
        batch_op.drop_index("ix_checkout_attempts_session_created")
        batch_op.drop_index("ix_checkout_attempts_ip_created")
        batch_op.drop_index("ix_checkout_attempts_account_created")

    op.drop_table("checkout_attempts")
