"""coupons, promotion codes and redemptions

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import checkstand.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupons",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("discount_type", sa.String(length=16), nullable=False),
        sa.Column("amount_atom_off", sa.BigInteger(), nullable=True),
        sa.Column("percent_off_bp", sa.Integer(), nullable=True),
        sa.Column("trial_days_off", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("duration", sa.String(length=16), nullable=False),
        sa.Column("duration_in_months", sa.Integer(), nullable=True),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("times_redeemed", sa.Integer(), nullable=False),
        sa.Column("valid_from", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("valid_until", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("validity_period_days", sa.Integer(), nullable=True),
        sa.Column("product_ids", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("metadata", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("notes", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("deleted_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_coupons_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
    )
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.create_index("ix_coupons_account_created", ["account_id", "created_at"], unique=False)

    op.create_table(
        "promotion_codes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("coupon_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("code_normalized", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("times_redeemed", sa.Integer(), nullable=False),
        sa.Column("expires_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_time_transaction", sa.Boolean(), nullable=False),
        sa.Column("minimum_amount_atom", sa.BigInteger(), nullable=True),
        sa.Column("minimum_amount_currency", sa.String(length=3), nullable=True),
        sa.Column("metadata", checkstand.db.JSONDocument(), nullable=False),
        sa.Column("deleted_at", checkstand.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_promotion_codes_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_promotion_codes_coupon_id_coupons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_codes")),
        sa.UniqueConstraint(
            "account_id", "code_normalized", name=op.f("uq_promotion_codes_account_id_code_normalized")
        ),
    )
    with op.batch_alter_table("promotion_codes", schema=None) as batch_op:
        batch_op.create_index("ix_promotion_codes_account_coupon", ["account_id", "coupon_id"], unique=False)
        batch_op.create_index("ix_promotion_codes_account_created", ["account_id", "created_at"], unique=False)

    op.create_table(
        "coupon_redemptions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("coupon_id", sa.String(length=64), nullable=False),
        sa.Column("promotion_code_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("amount_atom", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("created_at", checkstand.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_coupon_redemptions_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_coupon_redemptions_coupon_id_coupons"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["promotion_code_id"],
            ["promotion_codes.id"],
            name=op.f("fk_coupon_redemptions_promotion_code_id_promotion_codes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_redemptions")),
    )
    with op.batch_alter_table("coupon_redemptions", schema=None) as batch_op:
        batch_op.create_index("ix_coupon_redemptions_account_coupon", ["account_id", "coupon_id"], unique=False)
        batch_op.create_index("ix_coupon_redemptions_account_created", ["account_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("coupon_redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_coupon_redemptions_account_created")
        batch_op.drop_index("ix_coupon_redemptions_account_coupon")

    op.drop_table("coupon_redemptions")
    with op.batch_alter_table("promotion_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_promotion_codes_account_created")
        batch_op.drop_index("ix_promotion_codes_account_coupon")

    op.drop_table("promotion_codes")
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.drop_index("ix_coupons_account_created")

    op.drop_table("coupons")
