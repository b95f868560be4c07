"""the Paid dialect's webhooks (per-name endpoints and the organization's signing secret) and signals (a meter
event's product and data)

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing endpoints are PaymentKit's.
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dialect", sa.String(length=16), nullable=False, server_default="paymentkit"))
        batch_op.add_column(sa.Column("paid_name", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_webhook_endpoints_account_paid_name", ["account_id", "paid_name"])

    op.create_table(
        "paid_webhook_secrets",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("sealed_secret", sa.String(length=512), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_paid_webhook_secrets_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_paid_webhook_secrets")),
    )

    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_endpoint_last_attempt", ["endpoint_id", "last_attempt_at"], unique=False
        )

    with op.batch_alter_table("meter_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("product_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("data", checkstand.db.JSONDocument(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_meter_events_product_id_products"), "products", ["product_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index(
            "ix_meter_events_account_product_created", ["account_id", "product_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("meter_events", schema=None) as batch_op:
        batch_op.drop_index("ix_meter_events_account_product_created")
        batch_op.drop_constraint(batch_op.f("fk_meter_events_product_id_products"), type_="foreignkey")
        batch_op.drop_column("data")
        batch_op.drop_column("product_id")

    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_endpoint_last_attempt")

    op.drop_table("paid_webhook_secrets")

    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_constraint("uq_webhook_endpoints_account_paid_name", type_="unique")
        batch_op.drop_column("paid_name")
        batch_op.drop_column("dialect")
