"""webhook endpoints, deliveries and delivery attempts

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("events", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("failing_since", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("disabled_reason", sa.String(length=32), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_webhook_endpoints_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_endpoints_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index("ix_webhook_endpoints_failing_since", ["failing_since"], unique=False)

    op.create_table(
        "webhook_endpoint_secrets",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint_id", sa.String(length=64), nullable=False),
        sa.Column("sealed_secret", sa.String(length=512), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_webhook_endpoint_secrets_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_endpoint_secrets_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoint_secrets")),
    )
    with op.batch_alter_table("webhook_endpoint_secrets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_endpoint_secrets_endpoint_created", ["endpoint_id", "created_at"], unique=False
        )

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("aggregate_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("retrying_since", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("locked_until", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_webhook_deliveries_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_webhook_deliveries_event_id_events"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("event_id", "endpoint_id", name=op.f("uq_webhook_deliveries_event_id_endpoint_id")),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_deliveries_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index("ix_webhook_deliveries_due", ["status", "next_attempt_at", "event_seq"], unique=False)
        batch_op.create_index(
            "ix_webhook_deliveries_endpoint_status_created", ["endpoint_id", "status", "created_at"], unique=False
        )
        batch_op.create_index("ix_webhook_deliveries_order", ["endpoint_id", "aggregate_id", "event_seq"], unique=False)

    op.create_table(
        "webhook_delivery_attempts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("started_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_webhook_delivery_attempts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_delivery_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery_attempts")),
    )
    with op.batch_alter_table("webhook_delivery_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_delivery_attempts_delivery_number", ["delivery_id", "number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_delivery_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_delivery_attempts_delivery_number")
    op.drop_table("webhook_delivery_attempts")

    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_order")
        batch_op.drop_index("ix_webhook_deliveries_endpoint_status_created")
        batch_op.drop_index("ix_webhook_deliveries_due")
        batch_op.drop_index("ix_webhook_deliveries_account_created")
    op.drop_table("webhook_deliveries")

    with op.batch_alter_table("webhook_endpoint_secrets", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_endpoint_secrets_endpoint_created")
    op.drop_table("webhook_endpoint_secrets")

    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_endpoints_failing_since")
        batch_op.drop_index("ix_webhook_endpoints_account_created")
    op.drop_table("webhook_endpoints")
