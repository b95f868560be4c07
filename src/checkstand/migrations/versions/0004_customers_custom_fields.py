"""customers and custom field definitions

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "custom_field_definitions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("field_key", sa.String(length=64), nullable=False),
        sa.Column("data_type", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("constraints", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_custom_field_definitions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_field_definitions")),
        sa.UniqueConstraint(
            "account_id",
            "entity_type",
            "field_key",
            name=op.f("uq_custom_field_definitions_account_id_entity_type_field_key"),
        ),
    )
    with op.batch_alter_table("custom_field_definitions", schema=None) as batch_op:
        batch_op.create_index("ix_custom_field_definitions_account_created", ["account_id", "created_at"], unique=False)

    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("email_normalized", sa.String(length=320), nullable=True),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("name", sa.String(length=201), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("billing_email", sa.String(length=320), nullable=True),
        sa.Column("business_name", sa.String(length=200), nullable=True),
        sa.Column("address", checkstand.db.JSONDocument(), nullable=True),
        sa.Column("shipping_address", checkstand.db.JSONDocument(), nullable=True),
        sa.Column("tax_ids", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("metadata", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("custom_fields", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("first_purchase_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_customers_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("account_id", "external_id", name=op.f("uq_customers_account_id_external_id")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index("ix_customers_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index("ix_customers_account_email", ["account_id", "email_normalized"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_account_email")
        batch_op.drop_index("ix_customers_account_created")

    op.drop_table("customers")
    with op.batch_alter_table("custom_field_definitions", schema=None) as batch_op:
        batch_op.drop_index("ix_custom_field_definitions_account_created")

    op.drop_table("custom_field_definitions")
