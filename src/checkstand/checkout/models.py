"""A checkout session and the line items it sells, snapshotted from the catalog when they are added."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from checkstand.db import Base, JSONDocument, TimestampedMixin

OPEN = "open"
SUCCESS = "success"
EXPIRED = "expired"
PRIMARY_TIER = 0


class CheckoutSession(TimestampedMixin, Base):
    """``status`` is what was recorded (open, success, expired); what a reader sees is :func:`service.state`,
    which also counts an open session past ``expires_at`` as expired before the worker records it.

    Amounts are the server's, computed from the snapshotted line items and discount: ``amount_*_atom`` for the
    primary tier, ``tier_amounts`` for every tier (index 0 primary, then the cascade's fallbacks)."""

    __tablename__ = "checkout_sessions"
    __table_args__ = (
        Index("ix_checkout_sessions_account_created", "account_id", "created_at"),
        Index("ix_checkout_sessions_account_customer", "account_id", "customer_id"),
        Index("ix_checkout_sessions_status_expires", "status", "expires_at"),
        Index("ix_checkout_sessions_account_route", "account_id", "processor_route_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    secure_token: Mapped[str] = mapped_column(String(100), unique=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    success_url: Mapped[str] = mapped_column(String(2048))
    return_url: Mapped[str] = mapped_column(String(2048))
    expires_in_hours: Mapped[int]
    expires_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]
    currency: Mapped[str] = mapped_column(String(3))
    amount_subtotal_atom: Mapped[int] = mapped_column(BigInteger)
    amount_discount_atom: Mapped[int] = mapped_column(BigInteger)
    amount_total_atom: Mapped[int] = mapped_column(BigInteger)
    tier_amounts: Mapped[list[int]] = mapped_column(JSONDocument, default=list)
    # The route of each fallback tier (index 0 is the first fallback); None inherits the session's route.
    cascade_routes: Mapped[list[str | None]] = mapped_column(JSONDocument, default=list)
    succeeded_tier: Mapped[int | None]
    coupon_id: Mapped[str | None] = mapped_column(String(64))
    promotion_code_id: Mapped[str | None] = mapped_column(String(64))
    promotion_code: Mapped[str | None] = mapped_column(String(64))
    # The coupon's terms when applied, so a later edit of the coupon doesn't change this session.
    discount: Mapped[dict[str, Any] | None]
    processor_route_id: Mapped[str | None] = mapped_column(String(64))
    three_ds_mode: Mapped[str | None] = mapped_column(String(32))
    # The checkout attempt paying the session right now, if any: while it is set, nothing that changes the amount
    # may change (the processor is charging that amount).
    paying_attempt_id: Mapped[str | None] = mapped_column(String(64))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    subscription_custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    session_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    line_items: Mapped[list[CheckoutLineItem]] = relationship(
        lazy="selectin",
        cascade="all, delete-orphan",
        order_by="(CheckoutLineItem.tier, CheckoutLineItem.position)",
    )


class CheckoutLineItem(TimestampedMixin, Base):
    """What one line sells, copied from the price and product when added: a later catalog change leaves it be."""

    __tablename__ = "checkout_line_items"
    __table_args__ = (UniqueConstraint("session_id", "tier", "position"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("checkout_sessions.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    tier: Mapped[int] = mapped_column(default=PRIMARY_TIER)
    position: Mapped[int]
    price_id: Mapped[str] = mapped_column(ForeignKey("prices.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int]
    description: Mapped[str | None] = mapped_column(String(500))
    product_name: Mapped[str] = mapped_column(String(250))
    price_name: Mapped[str | None] = mapped_column(String(250))
    unit_amount_atom: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    recurring_interval: Mapped[str | None] = mapped_column(String(8))
    recurring_interval_count: Mapped[int | None]
    trial_days: Mapped[int] = mapped_column(default=0)
    amount_subtotal_atom: Mapped[int] = mapped_column(BigInteger)
