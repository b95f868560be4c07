"""A subscription and its items: what a checkout with a recurring price leaves behind, billed every interval. A
subscription says what it is in an event (``snapshot``, in PaymentKit's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Final

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, event, inspect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm import Session as OrmSession

from checkstand.catalog.models import Price
from checkstand.catalog.pricing import amount_for, bills_per_unit
from checkstand.customers.models import Customer
from checkstand.db import Base, TimestampedMixin
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.subscriptions.periods import term_end

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
        UniqueConstraint("account_id", "order_number"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    checkout_session_id: Mapped[str | None] = mapped_column(ForeignKey("checkout_sessions.id"), unique=True)
    # Its number among the account's orders (Paid's order ``number``), shared with the checkouts that sold only
    # one-time prices: given by ``subscriptions.order_numbers`` under the account's lock.
    order_number: Mapped[int]
    # Counts the changes of its plan (items added, removed, repriced or requantified; a plan scheduled or dropped):
    # Paid's order ``version``, which an amendment's preview quotes and its execution checks. Kept by
    # :func:`_count_plan_changes` at every flush, so no path that changes items can forget it.
    version: Mapped[int] = mapped_column(default=1)
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
            "contract_term_end": self.contract_term_end(),
        }

    def term_periods(self) -> int:
        """Billing periods per contract term: the longest ``contract_term_multiple`` of its items' prices, 1 when
        none sets one (each period is then a term of its own)."""
        return max((item.price.contract_term_multiple or 1 for item in self.items), default=1)

    def renews_contract(self) -> bool:
        """Whether the contract renews for another term at its end: unless one of its prices says
        ``auto_renew: false``."""
        return all(item.price.auto_renew for item in self.items)

    def term_end(self) -> datetime:
        """The end of the contract term the current period belongs to, counted from the billing anchor; without a
        term longer than a period, the current period's end."""
        return term_end(
            self.billing_anchor or self.current_period_start,
            self.current_period_start,
            self.billing_interval,
            self.billing_interval_count,
            self.term_periods(),
        )

    def contract_term_end(self) -> datetime | None:
        """The term's end as the wire shows it: while a contract binds beyond one period or ends by itself (a price
        with ``auto_renew: false``); None for a plain subscription or one that has ended."""
        if self.status == CANCELED or (self.term_periods() == 1 and self.renews_contract()):
            return None
        return self.term_end()

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
    """A recurring line of the checkout, with its unit amount as sold (a later price change leaves it be). A tiered
    or package item is billed by its price's scheme for the quantity (:attr:`amount_atom`): its price row is the
    tiers as sold, since a price's economics never change."""

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
    # A bulk price migration moves the item to this price at its subscription's next renewal (set on the items held
    # when the merchant asked, so subscriptions sold the old price later keep it).
    migrate_to_price_id: Mapped[str | None] = mapped_column(ForeignKey("prices.id"))

    price: Mapped[Price] = relationship(lazy="selectin", foreign_keys=[price_id])
    migrate_to_price: Mapped[Price | None] = relationship(lazy="selectin", foreign_keys=[migrate_to_price_id])

    @property
    def amount_atom(self) -> int:
        """What the item bills per period: its unit amount as sold times the quantity, or its price's amount for the
        quantity when the price is tiered or sold in packages."""
        if bills_per_unit(self.price):
            return self.quantity * self.unit_amount_atom
        return amount_for(self.price, self.quantity)

    def snapshot(self) -> dict[str, Any]:
        """The item as its subscription's snapshot carries it; ``unit_amount_atom`` is the amount as sold, which a
        later price change leaves be, and ``amount_atom`` what the item bills per period."""
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
            "amount_atom": self.amount_atom,
            "description": self.description,
        }


# What a plan is made of: an item's change of one of these, an item added or removed, or the scheduled plan set or
# dropped, is a new version of the subscription's plan.
_ITEM_PLAN_FIELDS: Final = ("price_id", "quantity", "unit_amount_atom", "migrate_to_price_id")
_SUBSCRIPTION_PLAN_FIELDS: Final = ("items", "scheduled_change")


@event.listens_for(OrmSession, "before_flush")
def _count_plan_changes(session: OrmSession, _context: object, _instances: object) -> None:
    """Each subscription whose plan this flush changes gets its ``version`` raised by one. A listener rather than a
    call in each service: items change in many places (plan changes now or at renewal, price migrations, the API's
    items update), and a path that forgot the count would let a stale amendment preview through."""
    changed: dict[str, Subscription] = {}
    with session.no_autoflush:
        for obj in session.dirty:
            if isinstance(obj, Subscription) and _any_changed(obj, _SUBSCRIPTION_PLAN_FIELDS):
                changed[obj.id] = obj
            elif isinstance(obj, SubscriptionItem) and _any_changed(obj, _ITEM_PLAN_FIELDS):
                parent = session.get(Subscription, obj.subscription_id)
                if parent is not None:
                    changed[parent.id] = parent
    for subscription in changed.values():
        subscription.version += 1


def _any_changed(obj: object, fields: tuple[str, ...]) -> bool:
    """Whether one of ``fields`` holds another value than it was loaded with (setting a field to its own value is
    no change)."""
    attributes = inspect(obj).attrs
    for field in fields:
        history = attributes[field].history
        if (history.added or history.deleted) and list(history.added) != list(history.deleted):
            return True
    return False
