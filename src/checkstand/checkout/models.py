"""A checkout session and the line items it sells, snapshotted from the catalog when they are added. A session says
what it is in an event (``snapshot``, in PaymentKit's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from checkstand.core import clock
from checkstand.core.i18n import AUTO as AUTO_LOCALE
from checkstand.customers.models import Customer
from checkstand.db import Base, JSONDocument, TimestampedMixin
from checkstand.test_clocks.models import TestClock

OPEN = "open"
SUCCESS = "success"
EXPIRED = "expired"
PRIMARY_TIER = 0


class CheckoutSession(TimestampedMixin, Base):
    """``status`` is what was recorded (open, success, expired); what a reader sees is :meth:`state_at`, which
    also counts an open session past ``expires_at`` as expired before the worker records it.

    Amounts are the server's, computed from the snapshotted line items and discount: ``amount_*_atom`` for the
    primary tier, ``tier_amounts`` for every tier (index 0 primary, then the cascade's fallbacks)."""

    __tablename__ = "checkout_sessions"
    __table_args__ = (
        Index("ix_checkout_sessions_account_created", "account_id", "created_at"),
        Index("ix_checkout_sessions_account_customer", "account_id", "customer_id"),
        Index("ix_checkout_sessions_status_expires", "status", "expires_at"),
        Index("ix_checkout_sessions_account_route", "account_id", "processor_route_id"),
        UniqueConstraint("account_id", "order_number"),
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
    # What paying the primary tier charges now: the total, less a trial's recurring part (charged when it ends).
    amount_due_today_atom: Mapped[int] = mapped_column(BigInteger, default=0)
    # A plan-change session amends this subscription instead of starting one; ``proration`` is the breakdown it was
    # priced with (credit for the old plan's unused time, charge for the new plan's rest of the period), as of
    # ``proration_date``.
    changes_subscription_id: Mapped[str | None] = mapped_column(String(64))
    proration: Mapped[dict[str, Any] | None]
    proration_date: Mapped[datetime | None]
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
    # The language the hosted page and receipts speak: ``auto`` (the browser's), a language or a region form
    # (:func:`checkstand.core.i18n.parse_locale`). ``customer_locale`` is what ``auto`` resolved to on the page the
    # customer paid from, for the receipts the worker sends later without a browser to ask.
    locale: Mapped[str] = mapped_column(String(16), default=AUTO_LOCALE, server_default=AUTO_LOCALE)
    customer_locale: Mapped[str | None] = mapped_column(String(16))
    # The checkout attempt paying the session right now, if any: while it is set, nothing that changes the amount
    # may change (the processor is charging that amount).
    paying_attempt_id: Mapped[str | None] = mapped_column(String(64))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    subscription_custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    session_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    # Paid's checkout options (its dialect fills them; a PaymentKit session keeps the defaults). ``offered_products``
    # is what the merchant offered, ``[{product_id, price_ids}]``: the customer picks one of a product's plans
    # (prices) on the page, and the lines are what was picked. A reusable checkout (``single_use`` false) is never
    # paid itself: each visit opens a new session made from it (``made_from_id``).
    offered_products: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    collect_address: Mapped[bool] = mapped_column(default=False)
    collect_phone: Mapped[bool] = mapped_column(default=False)
    single_use: Mapped[bool] = mapped_column(default=True)
    made_from_id: Mapped[str | None] = mapped_column(String(64))
    allowed_currencies: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    custom_cards: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    cancel_url: Mapped[str | None] = mapped_column(String(2048))
    archived_at: Mapped[datetime | None]
    # What the customer gave on the page when the session asked for it (also kept on the customer).
    customer_phone: Mapped[str | None] = mapped_column(String(40))
    customer_address: Mapped[dict[str, Any] | None]
    # A completed session that sold only one-time prices is an order of its own (Paid's): its number among the
    # account's orders, which subscriptions share (``subscriptions.order_numbers``). None for any other session.
    order_number: Mapped[int | None]
    # The frozen time of the test clock the session's customer lives on (None: the real time), read with the row, so
    # every reader of the session's state sees it as of its customer's time (:meth:`current_time`). Not a column:
    # the clock moves without the session changing. Kept across flushes, since an async session can't lazy-load it.
    customer_clock_time: Mapped[datetime | None] = column_property(
        select(TestClock.frozen_time)
        .join(Customer, Customer.test_clock_id == TestClock.id)
        .where(Customer.id == customer_id)
        .correlate_except(TestClock, Customer)
        .scalar_subquery(),
        expire_on_flush=False,
    )

    line_items: Mapped[list[CheckoutLineItem]] = relationship(
        lazy="selectin",
        cascade="all, delete-orphan",
        order_by="(CheckoutLineItem.tier, CheckoutLineItem.position)",
    )

    aggregate_type: ClassVar[str] = "checkout_session"

    def current_time(self) -> datetime:
        """The time the session lives at: its customer's test clock's, else the real time."""
        return self.customer_clock_time if self.customer_clock_time is not None else clock.now()

    def state_at(self, now: datetime) -> str:
        """What the session is at ``now``: an open session past ``expires_at`` is expired even before the worker
        records it."""
        return EXPIRED if self.status == OPEN and now >= self.expires_at else self.status

    def snapshot(self) -> dict[str, Any]:
        """Everything, custom fields included, but not the hosted page's URL: that depends on the address the
        service is reached at (``secure_token`` is there for a merchant that builds it). ``line_items`` are the
        primary tier's; ``cascade_tiers`` the fallbacks', from tier 1; ``proration`` a plan-change session's breakdown,
        as the API reads it (None for a new purchase)."""
        state = self.state_at(self.current_time())
        tiers = [
            [item for item in self.line_items if item.tier == tier] for tier in range(1 + len(self.cascade_routes))
        ]
        return {
            "id": self.id,
            "secure_token": self.secure_token,
            "customer_id": self.customer_id,
            "expires_in_hours": self.expires_in_hours,
            "expires_at": self.expires_at,
            "completed": self.status == SUCCESS,
            "completed_at": self.completed_at,
            "expired_at": self.expired_at,
            "state": state,
            "is_expired": state == EXPIRED,
            "success_url": self.success_url,
            "return_url": self.return_url,
            "currency": self.currency,
            "amount_subtotal_atom": self.amount_subtotal_atom,
            "amount_discount_atom": self.amount_discount_atom,
            "amount_total_atom": self.amount_total_atom,
            "amount_due_today_atom": self.amount_due_today_atom,
            "line_items": [item.snapshot() for item in tiers[PRIMARY_TIER]],
            "coupon_id": self.coupon_id,
            "promotion_code": self.promotion_code,
            "locale": self.locale,
            "card_checkout_settings": {"three_ds_mode": self.three_ds_mode},
            "cascade_status": {"total_tiers": len(tiers), "tier_amounts": self.tier_amounts}
            if self.cascade_routes
            else None,
            "cascade_tiers": [
                {
                    "line_items": [
                        {"price_id": item.price_id, "quantity": item.quantity, "description": item.description}
                        for item in items
                    ],
                    "processor_route_id": route_id,
                }
                for items, route_id in zip(tiers[PRIMARY_TIER + 1 :], self.cascade_routes, strict=True)
            ]
            if self.cascade_routes
            else None,
            "succeeded_tier": self.succeeded_tier,
            "processor_route_id": self.processor_route_id,
            "metadata": self.session_metadata,
            "custom_fields": self.custom_fields,
            "params_for_sub": {"custom_fields": self.subscription_custom_fields},
            "proration": self.proration,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


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
    # The package the line sells a price of, when the merchant asked for a package: kept for reference only.
    package_id: Mapped[str | None] = mapped_column(ForeignKey("packages.id"))

    def snapshot(self) -> dict[str, Any]:
        """The line as its session's snapshot carries it."""
        return {
            "id": self.id,
            "product_id": self.product_id,
            "price_id": self.price_id,
            "quantity": self.quantity,
            "description": self.description,
            "product_name": self.product_name,
            "price_name": self.price_name,
            "unit_amount_atom": self.unit_amount_atom,
            "amount_subtotal_atom": self.amount_subtotal_atom,
            "currency": self.currency,
            "recurring_interval": self.recurring_interval,
            "recurring_interval_count": self.recurring_interval_count,
            "trial_days": self.trial_days,
            "package_id": self.package_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
