"""A subscription and its items: what a checkout with a recurring price leaves behind, billed every interval. A
subscription says what it is in an event (``snapshot``, in PaymentKit's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from checkstand.catalog.models import Price
from checkstand.customers.models import Customer
from checkstand.db import Base, TimestampedMixin
from checkstand.payment_methods.models import SavedPaymentMethod

TRIALING = "trialing"
ACTIVE = "active"
PAUSED = "paused"
PAST_DUE = "past_due"
CANCELED = "canceled"
UNPAID = "unpaid"
INCOMPLETE = "incomplete"
STATUSES = (TRIALING, ACTIVE, PAUSED, PAST_DUE, CANCELED, UNPAID, INCOMPLETE)


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
    # The saved payment method renewals charge (``payment_method_reference`` is its processor token).
    default_payment_method_id: Mapped[str | None] = mapped_column(ForeignKey("payment_methods.id"))
    description: Mapped[str | None] = mapped_column(String(500))
    # Collection paused (Stripe's ``pause_collection``): periods still advance, nothing is charged, until resumed
    # (by hand, or at ``resumes_at``).
    paused_at: Mapped[datetime | None]
    resumes_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # When ``subscription.trial_will_end`` was recorded for the current trial, so it is sent once.
    trial_ending_notified_at: Mapped[datetime | None]
    # The moment periods are counted from (the first period's start): the n-th period ends n intervals after it, so
    # a subscription started on January 31 renews on the 29th of February and then on March 31 again. None on a
    # subscription made before it was kept: its current period's start serves, and is kept from the next renewal on.
    billing_anchor: Mapped[datetime | None]
    coupon_id: Mapped[str | None] = mapped_column(String(64))
    discount: Mapped[dict[str, Any] | None]
    # A plan change that takes effect when the current period ends (``subscriptions.plan_changes``): ``items``, the
    # new plan's lines, each with the item as it will start (``item``, the wire shape). The renewal applies it; any
    # later change replaces it.
    scheduled_change: Mapped[dict[str, Any] | None]
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    subscription_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    customer: Mapped[Customer] = relationship(lazy="selectin")
    items: Mapped[list[SubscriptionItem]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="SubscriptionItem.position"
    )
    # Loaded with the subscription, whose wire shape embeds it (async sessions can't load it later). Changing the
    # default means assigning this object: an id set alone leaves the loaded one behind until the next read.
    default_payment_method: Mapped[SavedPaymentMethod | None] = relationship(lazy="selectin")

    aggregate_type: ClassVar[str] = "subscription"

    def snapshot(self) -> dict[str, Any]:
        """Its own custom fields included (a webhook receiver can't ask for an expansion), its customer's and
        prices' left out. ``state`` is the status; the saved payment method is named by
        ``default_payment_method_id``."""
        return {
            "id": self.id,
            "state": self.status,
            "currency": self.currency,
            "description": self.description,
            "current_period_start": self.current_period_start,
            "current_period_end": self.current_period_end,
            "trial_start": self.trial_start,
            "trial_end": self.trial_end,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "items": self.items_snapshot(),
            "customer": {**self.customer.snapshot(), "custom_fields": None},
            "collection_method": "charge_automatically",
            "payment_method": self.payment_method_snapshot(),
            "note_id": None,
            "metadata": self.subscription_metadata,
            "custom_fields": self.custom_fields,
            "account_id": self.account_id,
            "customer_id": self.customer_id,
            "checkout_session_id": self.checkout_session_id,
            "billing_interval": self.billing_interval,
            "billing_interval_count": self.billing_interval_count,
            "cancel_at_period_end": self.cancel_at_period_end,
            "canceled_at": self.canceled_at,
            "default_payment_method_id": self.payment_method_reference,
            "processor_id": self.processor_id,
            "coupon_id": self.coupon_id,
            "discount": self.discount,
        }

    def items_snapshot(self) -> list[dict[str, Any]]:
        """The items held, then the ones a scheduled change starts at the period's end (``start_at_end``, not yet
        active); a held item the scheduled plan does not keep (same price and quantity) is ``drop_at_end``."""
        if self.scheduled_change is None:
            return [item.snapshot() for item in self.items]
        scheduled = self.scheduled_change["items"]
        kept = {(line["price_id"], line["quantity"]) for line in scheduled}
        held = {(item.price_id, item.quantity) for item in self.items}
        return [
            {**item.snapshot(), "drop_at_end": (item.price_id, item.quantity) not in kept} for item in self.items
        ] + [line["item"] for line in scheduled if (line["price_id"], line["quantity"]) not in held]

    def payment_method_snapshot(self) -> dict[str, Any] | None:
        """The default payment method as the wire embeds it; None while the loaded object isn't the one
        ``default_payment_method_id`` names (set by id in this transaction), never another method."""
        method = self.default_payment_method
        if method is None or method.id != self.default_payment_method_id:
            return None
        return method.snapshot()


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

    def snapshot(self) -> dict[str, Any]:
        """The item as its subscription's snapshot carries it; ``unit_amount_atom`` is the amount as sold, which a
        later price change leaves be."""
        return {
            "id": self.id,
            "price": {**self.price.snapshot(), "custom_fields": None},
            "quantity": self.quantity,
            "is_active": True,
            "start_at_end": False,
            "drop_at_end": False,
            "product_name": self.product_name,
            "product_id": self.product_id,
            "unit_amount_atom": self.unit_amount_atom,
            "description": self.description,
        }
