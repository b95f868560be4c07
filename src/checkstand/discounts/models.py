"""Coupons (the terms of a discount), promotion codes (what a customer types) and redemptions (each use)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from checkstand.core import clock
from checkstand.db import Base, JSONDocument, TimestampedMixin


class Coupon(TimestampedMixin, Base):
    """Exactly one of ``amount_atom_off`` (with ``currency``), ``percent_off_bp`` or ``trial_days_off`` is set, as
    ``discount_type`` says. A percentage is kept in basis points (12.5 % is 1250) so that it stays an integer and
    the maths exact. Deleting only marks the row (``status`` "deleted"): redemptions and events keep pointing at it.
    """

    __tablename__ = "coupons"
    __table_args__ = (Index("ix_coupons_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    discount_type: Mapped[str] = mapped_column(String(16))
    amount_atom_off: Mapped[int | None] = mapped_column(BigInteger)
    percent_off_bp: Mapped[int | None]
    trial_days_off: Mapped[int | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    duration: Mapped[str] = mapped_column(String(16))
    duration_in_months: Mapped[int | None]
    max_redemptions: Mapped[int | None]
    times_redeemed: Mapped[int] = mapped_column(default=0)
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    validity_period_days: Mapped[int | None]
    # Plain product ids, no foreign key: the catalog owns products and never removes one.
    product_ids: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    coupon_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    notes: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    deleted_at: Mapped[datetime | None]


class PromotionCode(TimestampedMixin, Base):
    """A customer-facing code for a coupon. ``code_normalized`` (upper case) carries the per-account uniqueness, so
    "summer" and "SUMMER" are one code; it is cleared when the code is deleted, which frees the text for reuse."""

    __tablename__ = "promotion_codes"
    __table_args__ = (
        Index("ix_promotion_codes_account_created", "account_id", "created_at"),
        Index("ix_promotion_codes_account_coupon", "account_id", "coupon_id"),
        UniqueConstraint("account_id", "code_normalized"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    coupon_id: Mapped[str] = mapped_column(ForeignKey("coupons.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    code_normalized: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    max_redemptions: Mapped[int | None]
    times_redeemed: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime | None]
    first_time_transaction: Mapped[bool] = mapped_column(default=False)
    minimum_amount_atom: Mapped[int | None] = mapped_column(BigInteger)
    minimum_amount_currency: Mapped[str | None] = mapped_column(String(3))
    code_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    deleted_at: Mapped[datetime | None]


class Redemption(Base):
    """One use of a coupon (through a promotion code or not): who, and how much it took off, when known."""

    __tablename__ = "coupon_redemptions"
    __table_args__ = (
        Index("ix_coupon_redemptions_account_created", "account_id", "created_at"),
        Index("ix_coupon_redemptions_account_coupon", "account_id", "coupon_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    coupon_id: Mapped[str] = mapped_column(ForeignKey("coupons.id", ondelete="CASCADE"))
    promotion_code_id: Mapped[str | None] = mapped_column(ForeignKey("promotion_codes.id", ondelete="CASCADE"))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    amount_atom: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
