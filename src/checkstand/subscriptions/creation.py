"""A subscription a merchant creates through the API for a customer with a saved payment method (a checkout makes
the others).

With a trial it starts trialing and nothing is charged until the trial ends. Without one it starts ``incomplete``:
the payments module invoices and charges the first period at once, and the subscription becomes active when that
payment succeeds (Stripe's ``allow_incomplete``). Every check runs before anything is written, so a refused request
leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import METERED, Price
from checkstand.catalog.pricing import amount_for
from checkstand.core.errors import FieldProblem, InvalidFields, NotFound
from checkstand.core.ids import new_id
from checkstand.core.metadata import merge_metadata
from checkstand.core.money import max_amount_atom
from checkstand.custom_fields.service import apply_custom_fields
from checkstand.customers import service as customers
from checkstand.events.service import record_event, snapshot
from checkstand.subscriptions.changes import MAX_ITEMS, MAX_QUANTITY, MAX_TRIAL_DAYS
from checkstand.subscriptions.methods import customer_method
from checkstand.subscriptions.models import ACTIVE, INCOMPLETE, TRIALING, Subscription, SubscriptionItem
from checkstand.subscriptions.order_numbers import next_order_number
from checkstand.subscriptions.periods import add_interval
from checkstand.subscriptions.service import held_price_ids, locked_subscription
from checkstand.test_clocks.service import now_for_customer

CHARGE_AUTOMATICALLY: Final = "charge_automatically"
# A metered price is sold through a checkout session only: a subscription made here charges its first period at once.
METERED_BY_CHECKOUT: Final = "a metered price is sold through a checkout session for now"
# How far a merchant's clock may run ahead of Checkstand's when it sends "now" as the period's start.
CLOCK_SKEW: Final = timedelta(minutes=5)


@dataclass(frozen=True)
class NewSubscription:
    """The SDK's ``create_subscription`` body in the domain's words. The fields Checkstand does not serve yet
    (``total_billing_cycles``, ``net_d``, a coupon, invoices sent rather than charged) are refused when set."""

    customer_id: str
    items: Sequence[tuple[str, int]]
    period_start: datetime
    period_end: datetime | None = None
    currency: str | None = None
    billing_interval: str | None = None
    billing_interval_count: int | None = None
    trial_start: datetime | None = None
    trial_end: datetime | None = None
    trial_period_days: int | None = None
    cancel_at_period_end: bool = False
    default_payment_method_id: str | None = None
    processor_id: str | None = None
    description: str | None = None
    metadata: Mapping[str, str | None] | None = None
    custom_fields: Mapping[str, Any] | None = None
    collection_method: str | None = None
    total_billing_cycles: int | None = None
    net_d: int | None = None
    coupon_id: str | None = None
    promotion_code: str | None = None
    process_payment: bool = True
    unsupported: Mapping[str, Any] = field(default_factory=dict)


async def create_subscription(session: AsyncSession, account_id: str, spec: NewSubscription) -> Subscription:
    """Trialing when the spec has a trial, else ``incomplete`` until its first invoice is paid. Records
    ``subscription.created``."""
    customer = await customers.get_customer(session, account_id, spec.customer_id)
    problems = _unsupported(spec)
    prices = await _prices(session, account_id, spec, problems)
    problems += await _add_on_problems(session, account_id, customer.id, spec, prices)
    method = await customer_method(
        session, account_id, customer.id, spec.default_payment_method_id, ("default_payment_method_id",), problems
    )
    if method is not None and spec.processor_id is not None and spec.processor_id != method.processor_id:
        problems.append(FieldProblem(("processor_id",), "the payment method is saved at another processor"))
    fields: dict[str, Any] = {}
    try:
        fields = await apply_custom_fields(session, account_id, "subscription", {}, spec.custom_fields)
    except InvalidFields as invalid:
        problems.extend(invalid.problems)
    metadata = merge_metadata({}, spec.metadata or {})
    if problems or method is None or not prices:
        raise InvalidFields(problems)
    first = prices[0][0]
    interval, count = first.recurring_interval or "month", first.recurring_interval_count or 1
    now = await now_for_customer(session, customer.id)
    trial_start, trial_end = _trial(spec, now, problems)
    period_start = trial_end or spec.period_start
    period_end = add_interval(period_start, interval, count)
    if trial_end is None:
        if spec.period_start > now + CLOCK_SKEW:
            problems.append(FieldProblem(("period_start",), "a subscription starts now or earlier, never later"))
        elif period_end <= now:
            problems.append(FieldProblem(("period_start",), "the first period must include now"))
    elif spec.period_start > trial_end:
        problems.append(FieldProblem(("period_start",), "must not be after the trial's end"))
    if spec.period_end is not None and spec.period_end != period_end:
        problems.append(
            FieldProblem(("period_end",), f"the first period lasts one billing interval: {period_end.isoformat()}")
        )
    if problems:
        raise InvalidFields(problems)
    subscription = Subscription(
        id=new_id("sub"),
        account_id=account_id,
        order_number=await next_order_number(session, account_id),
        customer=customer,
        checkout_session_id=None,
        status=TRIALING if trial_end is not None else INCOMPLETE,
        currency=first.currency,
        billing_interval=interval,
        billing_interval_count=count,
        current_period_start=period_start,
        current_period_end=period_end,
        billing_anchor=period_start,
        trial_start=trial_start,
        trial_end=trial_end,
        cancel_at_period_end=spec.cancel_at_period_end,
        default_payment_method_id=method.id,
        payment_method_reference=method.processor_reference,
        processor_id=method.processor_id,
        description=spec.description,
        custom_fields=fields,
        subscription_metadata=metadata,
        items=[
            SubscriptionItem(
                id=new_id("si"),
                account_id=account_id,
                position=position,
                price=price,
                price_id=price.id,
                product_id=price.product_id,
                product_name=price.product.name,
                quantity=quantity,
                unit_amount_atom=price.unit_amount_atom,
            )
            for position, (price, quantity) in enumerate(prices)
        ],
    )
    session.add(subscription)
    await session.flush()
    await record_event(session, account_id=account_id, type="subscription.created", obj=subscription)
    return subscription


async def activate_incomplete(session: AsyncSession, account_id: str, subscription_id: str) -> Subscription:
    """An incomplete subscription whose first invoice was just paid becomes active; records
    ``subscription.updated``. Anything else is left as it is (a racing cancel wins)."""
    subscription = await locked_subscription(session, account_id, subscription_id)
    if subscription.status != INCOMPLETE:
        return subscription
    before = snapshot(subscription)
    subscription.status = ACTIVE
    await session.flush()
    await record_event(session, account_id=account_id, type="subscription.updated", obj=subscription, before=before)
    return subscription


def _unsupported(spec: NewSubscription) -> list[FieldProblem]:
    problems = [
        FieldProblem((name,), "not supported yet", "not_supported")
        for name, value in (
            ("total_billing_cycles", spec.total_billing_cycles),
            ("net_d", spec.net_d),
            ("coupon_id", spec.coupon_id),
            ("promotion_code", spec.promotion_code),
        )
        if value is not None
    ]
    if spec.collection_method not in (None, CHARGE_AUTOMATICALLY):
        problems.append(
            FieldProblem(("collection_method",), "only charge_automatically is supported yet", "not_supported")
        )
    if not spec.process_payment:
        problems.append(
            FieldProblem(
                ("process_payment",), "a subscription's first period is always charged at once", "not_supported"
            )
        )
    problems.extend(FieldProblem((name,), message, "not_supported") for name, message in spec.unsupported.items())
    return problems


async def _prices(
    session: AsyncSession, account_id: str, spec: NewSubscription, problems: list[FieldProblem]
) -> list[tuple[Price, int]]:
    """The items' prices: active, recurring, all in one currency and interval (the spec's, if it gives them)."""
    if not spec.items:
        problems.append(FieldProblem(("items",), "give at least one item", "too_short"))
    if len(spec.items) > MAX_ITEMS:
        problems.append(FieldProblem(("items",), f"at most {MAX_ITEMS} items", "too_long"))
        return []
    found: list[tuple[int, Price, int]] = []
    for index, (price_id, quantity) in enumerate(spec.items):
        path = ("items", index, "price_id")
        if not 1 <= quantity <= MAX_QUANTITY:
            problems.append(FieldProblem(("items", index, "quantity"), f"must be between 1 and {MAX_QUANTITY}"))
        try:
            price = await catalog.get_price(session, account_id, price_id)
        except NotFound:
            problems.append(FieldProblem(path, "no such price"))
            continue
        if not price.is_active:
            problems.append(FieldProblem(path, "this price is archived"))
        elif price.recurring_interval is None:
            problems.append(FieldProblem(path, "a subscription item needs a recurring price"))
        elif price.usage_type == METERED:
            problems.append(FieldProblem(path, METERED_BY_CHECKOUT, "not_supported"))
        else:
            found.append((index, price, quantity))
    if not found:
        return []
    first = found[0][1]
    currency = spec.currency or first.currency
    interval = (
        spec.billing_interval or first.recurring_interval,
        spec.billing_interval_count or first.recurring_interval_count or 1,
    )
    for index, price, _ in found:
        path = ("items", index, "price_id")
        if price.currency != currency:
            problems.append(FieldProblem(path, f"every item must be in {currency}"))
        elif (price.recurring_interval, price.recurring_interval_count or 1) != interval:
            problems.append(FieldProblem(path, f"every item must recur every {interval[1]} {interval[0]}(s)"))
    # A quantity out of bounds is reported above; it counts as none here.
    if sum(amount_for(price, max(quantity, 0)) for _, price, quantity in found) > max_amount_atom(currency):
        problems.append(FieldProblem(("items",), "the items' total per period is above the currency's limit"))
    return [(price, quantity) for _, price, quantity in found]


async def _add_on_problems(
    session: AsyncSession, account_id: str, customer_id: str, spec: NewSubscription, prices: Sequence[tuple[Price, int]]
) -> list[FieldProblem]:
    """An add-on item needs one of its base prices among the items, or on a live subscription of the customer."""
    by_id = {price.id: price for price, _ in prices}
    add_ons = [
        (index, by_id[price_id])
        for index, (price_id, _) in enumerate(spec.items)
        if price_id in by_id and by_id[price_id].prerequisite_price_ids
    ]
    if not add_ons:
        return []
    held = set(by_id) | await held_price_ids(session, account_id, customer_id)
    return [
        FieldProblem(
            ("items", index, "price_id"),
            f"price {price.id!r} is an add-on: it is sold only beside one of "
            f"{', '.join(price.prerequisite_price_ids)}, among the items or on the customer's subscription",
            "add_on_without_base",
        )
        for index, price in add_ons
        if held.isdisjoint(price.prerequisite_price_ids)
    ]


def _trial(
    spec: NewSubscription, now: datetime, problems: list[FieldProblem]
) -> tuple[datetime | None, datetime | None]:
    """(trial start, trial end) from ``trial_end`` or ``trial_period_days``; (None, None) without a trial."""
    if spec.trial_end is not None and spec.trial_period_days is not None:
        problems.append(FieldProblem(("trial_period_days",), "give trial_end or trial_period_days, not both"))
        return None, None
    if spec.trial_end is None and spec.trial_period_days is None:
        if spec.trial_start is not None:
            problems.append(FieldProblem(("trial_start",), "a trial needs trial_end or trial_period_days"))
        return None, None
    start = spec.trial_start or now
    if start > now + CLOCK_SKEW:
        problems.append(FieldProblem(("trial_start",), "a trial starts now or earlier, never later"))
        return None, None
    if spec.trial_period_days is not None:
        if not 1 <= spec.trial_period_days <= MAX_TRIAL_DAYS:
            problems.append(FieldProblem(("trial_period_days",), f"must be between 1 and {MAX_TRIAL_DAYS}"))
            return None, None
        return start, start + timedelta(days=spec.trial_period_days)
    end = spec.trial_end
    assert end is not None
    if end <= now:
        problems.append(FieldProblem(("trial_end",), "must be in the future"))
    elif end > start + timedelta(days=MAX_TRIAL_DAYS):
        problems.append(FieldProblem(("trial_end",), f"a trial lasts at most {MAX_TRIAL_DAYS} days"))
    else:
        return start, end
    return None, None
