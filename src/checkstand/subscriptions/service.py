"""Subscriptions: created by a successful checkout, read, listed and cancelled.

A subscription is made from the recurring items of the tier that was paid for; its first period follows the trial
(if any) and runs for the prices' interval on the calendar, so a month from January 31 ends on the last day of
February. Renewals, proration and upgrades come later and read what is recorded here (the items as sold, the coupon
terms, the saved payment method).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Final

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import METERED
from checkstand.checkout import trials
from checkstand.checkout.models import SUCCESS as CHECKOUT_COMPLETED
from checkstand.checkout.models import CheckoutSession
from checkstand.core import clock
from checkstand.core.errors import Conflict, InvalidFields
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.core.pagination import Page, paginate
from checkstand.custom_fields.service import JsonColumnStore, register_value_store
from checkstand.customers import service as customers
from checkstand.events.service import record_event, snapshot
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.subscriptions import contracts
from checkstand.subscriptions.models import (
    ACTIVE,
    CANCELED,
    PAST_DUE,
    STATUSES,
    TRIALING,
    Subscription,
    SubscriptionItem,
)
from checkstand.subscriptions.order_numbers import next_order_number
from checkstand.subscriptions.periods import add_interval
from checkstand.test_clocks import service as test_clocks

# Subscriptions whose items an add-on may stand on.
LIVE: Final = (ACTIVE, TRIALING, PAST_DUE)
# ``by-customer`` answers with a bare list (the SDK's shape); the newest this many keep that answer bounded.
MAX_BY_CUSTOMER: Final = 100

# Deleting a custom field definition deletes its values on subscriptions too.
register_value_store("subscription", JsonColumnStore(Subscription.custom_fields, Subscription.account_id))

LIST_SPEC: Final = ListSpec(
    filterable={
        "customer_id": Subscription.customer_id,
        "currency": Subscription.currency,
        "state": Subscription.status,
        "checkout_session_id": Subscription.checkout_session_id,
        "billing_interval": Subscription.billing_interval,
        "cancel_at_period_end": Subscription.cancel_at_period_end,
    },
    sortable={
        "created_at": Subscription.created_at,
        "updated_at": Subscription.updated_at,
        "current_period_end": Subscription.current_period_end,
    },
    searchable=(Subscription.id, Subscription.customer_id),
    created_at=Subscription.created_at,
    tiebreak=Subscription.id,
)


# --- Creating -------------------------------------------------------------------------------------------------------


async def create_from_checkout(
    session: AsyncSession,
    checkout: CheckoutSession,
    *,
    tier: int,
    customer_id: str,
    payment_method_reference: str | None,
    processor_id: str | None,
    default_payment_method: SavedPaymentMethod | None = None,
) -> Subscription | None:
    """The subscription a paid ``tier`` of ``checkout`` starts, or None when that tier recurs nowhere.
    ``default_payment_method`` is the method the checkout saved, which renewals charge.

    Called inside the transaction that completes the session; records ``subscription.created`` in it."""
    recurring = [
        (item, item.recurring_interval)
        for item in checkout.line_items
        if item.tier == tier and item.recurring_interval is not None
    ]
    if not recurring:
        return None
    customer = await customers.get_customer(session, checkout.account_id, customer_id)
    # The checkout refuses recurring prices of different intervals, so the first item's is everyone's.
    first, interval = recurring[0]
    count = first.recurring_interval_count or 1
    # The trial the checkout priced (nothing of the recurring part was charged for it).
    trial_days = trials.trial_days(checkout, tier)
    # The customer's time: a customer on a test clock starts its periods at the clock's frozen time.
    now = await test_clocks.now_for_customer(session, customer_id)
    trial_end = now + timedelta(days=trial_days) if trial_days > 0 else None
    period_start = trial_end or now
    prices = await catalog.get_prices(session, checkout.account_id, {item.price_id for item, _ in recurring})
    items = [
        SubscriptionItem(
            id=new_id("si"),
            account_id=checkout.account_id,
            position=position,
            price_id=item.price_id,
            product_id=item.product_id,
            product_name=item.product_name,
            # A metered item bills the usage reported, not a quantity bought (Stripe's have none): 0 bought.
            quantity=0 if prices[item.price_id].usage_type == METERED else item.quantity,
            unit_amount_atom=item.unit_amount_atom,
            description=item.description,
            price=prices[item.price_id],
        )
        for position, (item, _) in enumerate(recurring)
    ]
    subscription = Subscription(
        id=new_id("sub"),
        account_id=checkout.account_id,
        order_number=await next_order_number(session, checkout.account_id),
        customer=customer,
        checkout_session_id=checkout.id,
        status=TRIALING if trial_end is not None else ACTIVE,
        currency=checkout.currency,
        billing_interval=interval,
        billing_interval_count=count,
        current_period_start=period_start,
        current_period_end=add_interval(period_start, interval, count),
        billing_anchor=period_start,
        trial_start=now if trial_end is not None else None,
        trial_end=trial_end,
        cancel_at_period_end=False,
        payment_method_reference=payment_method_reference,
        processor_id=processor_id,
        default_payment_method=default_payment_method,
        coupon_id=checkout.coupon_id,
        discount=dict(checkout.discount) if checkout.discount is not None else None,
        custom_fields=dict(checkout.subscription_custom_fields),
        subscription_metadata={},
        items=items,
    )
    session.add(subscription)
    await session.flush()
    await record_event(session, account_id=checkout.account_id, type="subscription.created", obj=subscription)
    return subscription


# --- Reading --------------------------------------------------------------------------------------------------------


def _subscriptions(account_id: str) -> Select[Subscription]:
    return select(Subscription).where(Subscription.account_id == account_id)


async def get_subscription(session: AsyncSession, account_id: str, subscription_id: str) -> Subscription:
    return await one_or_not_found(
        session, _subscriptions(account_id).where(Subscription.id == subscription_id), "subscription", subscription_id
    )


async def subscription_id_of_checkout(session: AsyncSession, checkout: CheckoutSession) -> str | None:
    """The subscription a completed checkout made, or the one it changed (a plan change); None for a checkout not
    completed or that bought only one-time prices."""
    if checkout.status != CHECKOUT_COMPLETED:
        return None
    if checkout.changes_subscription_id is not None:
        return checkout.changes_subscription_id
    return await session.scalar(
        select(Subscription.id).where(
            Subscription.account_id == checkout.account_id, Subscription.checkout_session_id == checkout.id
        )
    )


def _check_state(state: str | None) -> None:
    if state is not None and state not in STATUSES:
        raise InvalidFields.one(("state",), f"must be one of {', '.join(STATUSES)}")


async def list_subscriptions(
    session: AsyncSession,
    account_id: str,
    params: ListParams,
    *,
    customer_id: str | None = None,
    state: str | None = None,
) -> Page[Subscription]:
    """Newest first; ``customer_id`` and ``state`` narrow it as the SDK's own query parameters do."""
    _check_state(state)
    query = _subscriptions(account_id)
    if customer_id is not None:
        query = query.where(Subscription.customer_id == customer_id)
    if state is not None:
        query = query.where(Subscription.status == state)
    return await paginate(session, apply_list_params(query, LIST_SPEC, params), params.page)


async def list_by_customer(
    session: AsyncSession, account_id: str, customer_id: str, *, state: str | None = None
) -> Sequence[Subscription]:
    """A customer's subscriptions, newest first; another account's customer is not found."""
    _check_state(state)
    await customers.get_customer(session, account_id, customer_id)
    query = _subscriptions(account_id).where(Subscription.customer_id == customer_id)
    if state is not None:
        query = query.where(Subscription.status == state)
    query = query.order_by(Subscription.created_at.desc(), Subscription.id.desc()).limit(MAX_BY_CUSTOMER)
    return (await session.scalars(query)).all()


async def held_price_ids(session: AsyncSession, account_id: str, customer_id: str) -> set[str]:
    """The prices the customer's live subscriptions (active, trialing or past due) hold: the bases an add-on may be
    sold on without its base in the same checkout (checkout's ``HeldPrices``)."""
    found = await session.scalars(
        select(SubscriptionItem.price_id)
        .join(Subscription, Subscription.id == SubscriptionItem.subscription_id)
        .where(
            Subscription.account_id == account_id,
            Subscription.customer_id == customer_id,
            Subscription.status.in_(LIVE),
        )
    )
    return set(found)


# --- Changing -------------------------------------------------------------------------------------------------------


async def locked_subscription(session: AsyncSession, account_id: str, subscription_id: str) -> Subscription:
    """The subscription with its row locked and re-read, so concurrent changes see each other's result."""
    return await one_or_not_found(
        session,
        locked(_subscriptions(account_id).where(Subscription.id == subscription_id)),
        "subscription",
        subscription_id,
    )


def require_not_canceled(subscription: Subscription) -> None:
    """A canceled subscription is over: every change to it is a conflict (409), never a silent no-op."""
    if subscription.status == CANCELED:
        raise Conflict(f"Subscription {subscription.id} is already canceled.", code="subscription_canceled")


async def cancel(session: AsyncSession, account_id: str, subscription_id: str) -> Subscription:
    """Cancel now (Stripe's immediate cancel); records ``subscription.canceled``. A second cancel is a conflict, and
    so is one that would break a contract term still running beyond the current period (``cancel_at_period_end``
    ends it at the term's end instead)."""
    subscription = await locked_subscription(session, account_id, subscription_id)
    require_not_canceled(subscription)
    contracts.require_cancellable_now(subscription)
    before = snapshot(subscription)
    subscription.status = CANCELED
    subscription.canceled_at = clock.now()
    subscription.cancel_at_period_end = False
    await session.flush()
    await record_event(session, account_id=account_id, type="subscription.canceled", obj=subscription, before=before)
    return subscription


async def set_cancel_at_period_end(
    session: AsyncSession, account_id: str, subscription_id: str, value: bool
) -> Subscription:
    """Schedule (or unschedule) the end at the current period's end; records ``subscription.updated``."""
    subscription = await locked_subscription(session, account_id, subscription_id)
    require_not_canceled(subscription)
    if subscription.cancel_at_period_end == value:
        return subscription
    before = snapshot(subscription)
    subscription.cancel_at_period_end = value
    await session.flush()
    await record_event(session, account_id=account_id, type="subscription.updated", obj=subscription, before=before)
    return subscription
