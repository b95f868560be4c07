"""Coupons (the terms of a discount), promotion codes (what a customer types) and redemptions (each use).

Coupons and codes say what they are in an event (``snapshot``, in PaymentKit's field names)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Final

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from checkstand.core import clock, money
from checkstand.db import Base, JSONDocument, TimestampedMixin

# A coupon's ``status``.
ACTIVE: Final = "active"
INACTIVE: Final = "inactive"
DELETED: Final = "deleted"

Refusal = tuple[str, str]
"""Why a discount can't be used now: a sentence for people and a stable code for machines."""


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
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
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

    aggregate_type: ClassVar[str] = "coupon"

    def refusal_at(self, now: datetime) -> Refusal | None:
        """Why the coupon can't be applied at ``now``, or None when it can."""
        if self.status != ACTIVE:
            return f"The coupon is {self.status}.", "coupon_inactive"
        if self.valid_from is not None and now < self.valid_from:
            return "The coupon is not valid yet.", "coupon_not_yet_valid"
        if self.valid_until is not None and now >= self.valid_until:
            return "The coupon has expired.", "coupon_expired"
        if self.max_redemptions is not None and self.times_redeemed >= self.max_redemptions:
            return "The coupon has been used as many times as it may be.", "coupon_exhausted"
        return None

    def snapshot(self) -> dict[str, Any]:
        """``percent_off`` is an integer in PaymentKit, so a fractional percentage is given exactly in
        ``percent_off_decimal`` and ``percent_off`` is null, as Stripe does with ``unit_amount_decimal``. ``valid``
        is whether it could be applied when the event was recorded."""
        percent = None if self.percent_off_bp is None else Decimal(self.percent_off_bp) / 100
        return {
            "id": self.id,
            "status": self.status,
            "name": self.name,
            "discount_type": self.discount_type,
            "amount_atom_off": self.amount_atom_off,
            "percent_off": int(percent) if percent is not None and percent == int(percent) else None,
            "percent_off_decimal": None if percent is None else f"{percent:f}",
            "trial_days_off": self.trial_days_off,
            "currency": self.currency,
            "duration": self.duration,
            "duration_in_months": self.duration_in_months,
            "max_redemptions": self.max_redemptions,
            "redemption_count": self.times_redeemed,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "validity_period_days": self.validity_period_days,
            "products": list(self.product_ids),
            "metadata": dict(self.coupon_metadata),
            "valid": self.refusal_at(clock.now()) is None,
            "deleted_at": self.deleted_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


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

    aggregate_type: ClassVar[str] = "promotion_code"

    def snapshot(self) -> dict[str, Any]:
        """In ``restrictions``, ``minimum_amount`` is an exact decimal string in the major unit, and
        ``minimum_amount_atom`` the same in minor units."""
        minimum = None
        if self.minimum_amount_atom is not None and self.minimum_amount_currency is not None:
            minimum = f"{money.to_major(self.minimum_amount_atom, self.minimum_amount_currency):f}"
        return {
            "id": self.id,
            "coupon_id": self.coupon_id,
            "code": self.code,
            "active": self.active,
            "max_redemptions": self.max_redemptions,
            "times_redeemed": self.times_redeemed,
            "expires_at": self.expires_at,
            "restrictions": {
                "first_time_transaction": self.first_time_transaction,
                "minimum_amount": minimum,
                "minimum_amount_currency": self.minimum_amount_currency,
                "minimum_amount_atom": self.minimum_amount_atom,
            },
            "metadata": dict(self.code_metadata),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


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
