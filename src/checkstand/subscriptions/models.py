"""A subscription and its items: what a checkout with a recurring price leaves behind, billed every interval."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from checkstand.catalog.models import Price
from checkstand.customers.models import Customer
from checkstand.db import Base, TimestampedMixin

TRIALING = "trialing"
ACTIVE = "active"
PAUSED = "paused"
PAST_DUE = "past_due"
CANCELED = "canceled"
# Every state the SDK knows (its subscription stats count trialing, active, paused and cancelled); only trialing,
# active and canceled are reached until renewals and dunning exist.
STATUSES = (TRIALING, ACTIVE, PAUSED, PAST_DUE, CANCELED)


class Subscription(TimestampedMixin, Base):
    """One per successful checkout session whose tier sells a recurring price.

    ``discount`` keeps the coupon's terms as they were at checkout (``duration`` once, repeating or forever), so
    renewals apply what the customer was sold even if the coupon is edited later. ``payment_method_reference`` and
    ``processor_id`` name the saved payment method renewals charge."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_account_created", "account_id", "created_at"),
        Index("ix_subscriptions_account_customer", "account_id", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    checkout_session_id: Mapped[str | None] = mapped_column(ForeignKey("checkout_sessions.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    billing_interval: Mapped[str] = mapped_column(String(8))
    billing_interval_count: Mapped[int]
    current_period_start: Mapped[datetime]
    current_period_end: Mapped[datetime]
    trial_start: Mapped[datetime | None]
    trial_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    canceled_at: Mapped[datetime | None]
    payment_method_reference: Mapped[str | None] = mapped_column(String(255))
    processor_id: Mapped[str | None] = mapped_column(String(64))
    coupon_id: Mapped[str | None] = mapped_column(String(64))
    discount: Mapped[dict[str, Any] | None]
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    subscription_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    customer: Mapped[Customer] = relationship(lazy="selectin")
    items: Mapped[list[SubscriptionItem]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="SubscriptionItem.position"
    )


class SubscriptionItem(TimestampedMixin, Base):
    """A recurring line of the checkout, with its unit amount as sold (a later price change leaves it be)."""

    __tablename__ = "subscription_items"
    __table_args__ = (UniqueConstraint("subscription_id", "position"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    position: Mapped[int]
    price_id: Mapped[str] = mapped_column(ForeignKey("prices.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    product_name: Mapped[str] = mapped_column(String(250))
    quantity: Mapped[int]
    unit_amount_atom: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str | None] = mapped_column(String(500))

    price: Mapped[Price] = relationship(lazy="selectin")
