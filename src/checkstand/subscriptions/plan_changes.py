"""Plan changes on a live subscription: pricing one with the proration engine, and amending the subscription.

Pricing and amending are separate so that whoever charges a change (the API's ``always_invoice``, a checkout that
upgrades) prices it, charges it with no transaction open, and amends only once the money is taken; and so that a
preview shows exactly what the change will cost. A trialing subscription has paid nothing for its period, so a change
during the trial credits and charges nothing. A new plan recurring at another interval starts a new period at the
change's instant (the old plan's unused time credited, the new plan charged for a whole period). Whichever way it
applies, a change may not end a contract term sooner than the subscription is committed to
(:func:`checkstand.subscriptions.contracts.require_term_kept`).

A change may instead be scheduled for the period's end (:func:`schedule_change`): nothing is credited or charged, the
subscription keeps its items until its renewal, which bills the new plan and applies it
(:func:`apply_renewal_plan`, which also moves the items a bulk price migration marked). Any later change replaces a
scheduled one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import Price
from checkstand.catalog.upgrade_paths import classify_transition
from checkstand.core.errors import BusinessRuleViolation
from checkstand.core.ids import new_id
from checkstand.customers import service as customers
from checkstand.events.service import record_event, snapshot
from checkstand.subscriptions import contracts
from checkstand.subscriptions.discount_terms import amounts_off, discounts_proration
from checkstand.subscriptions.models import TRIALING, Subscription, SubscriptionItem
from checkstand.subscriptions.periods import add_interval
from checkstand.subscriptions.price_migrations import migrated, price_moves
from checkstand.subscriptions.proration import PlanLine, Proration, prorate
from checkstand.subscriptions.service import require_not_canceled

NOW: Final = "now"
PERIOD_END: Final = "period_end"


def current_plan(subscription: Subscription) -> list[PlanLine]:
    """The subscription's items as the plan it holds now (the amounts as sold)."""
    return [
        PlanLine.of(
            item.price_id, item.product_id, item.product_name, item.quantity, item.unit_amount_atom, item.amount_atom
        )
        for item in subscription.items
    ]


async def classify_change(session: AsyncSession, subscription: Subscription, new: Sequence[PlanLine]) -> str:
    """What moving to ``new`` is (upgrade, downgrade or crossgrade), every changed price checked against the
    account's upgrade paths, so a change they refuse is refused the same way in a checkout and through the API.
    Lines are paired by position, the order a plan's items keep; a change of quantities alone is a crossgrade."""
    kinds = [
        await classify_transition(
            session, subscription.account_id, from_price_id=before.price_id, to_price_id=after.price_id
        )
        for before, after in zip(current_plan(subscription), new, strict=False)
        if before.price_id != after.price_id
    ]
    return kinds[0] if kinds else "crossgrade"


async def preview_plan_change(
    session: AsyncSession, subscription: Subscription, new: Sequence[PlanLine], *, at: datetime
) -> Proration:
    """What changing to ``new`` at ``at`` credits and charges; nothing is written.

    ``at`` must fall within the current period (``proration_date_outside_period`` otherwise). The new prices must
    recur at one interval: the subscription's keeps the period, another starts a new one at ``at``. The
    subscription's coupon discounts the lines by its terms (:mod:`.discount_terms`): a forever 20 % coupon makes
    both the credit and the charge 20 % less."""
    require_not_canceled(subscription)
    if not new:
        raise BusinessRuleViolation("A plan change needs at least one item.", code="plan_change_empty")
    interval = await _interval_of(session, subscription, new)
    await _keep_term(session, subscription, new, interval, at=at)
    period_start, period_end = subscription.current_period_start, subscription.current_period_end
    if subscription.status == TRIALING:
        # Nothing was paid for the trial: the new plan is billed in full when the trial ends.
        return Proration(
            currency=subscription.currency,
            at=at,
            period_start=period_start,
            period_end=period_end,
            lines=(),
            credit_atom=0,
            charge_atom=0,
            net_atom=0,
            next_renewal_atom=sum(line.amount_atom for line in new),
            next_renewal_at=period_end,
        )
    if not period_start <= at <= period_end:
        raise BusinessRuleViolation(
            f"The change's instant must fall within the current period ({period_start.isoformat()} to "
            f"{period_end.isoformat()}).",
            code="proration_date_outside_period",
        )
    new_period_end = None
    if interval != (subscription.billing_interval, subscription.billing_interval_count):
        new_period_end = add_interval(at, *interval)
    old = current_plan(subscription)
    # The coupon's terms: the unused time at what the current period was billed (a repeating coupon's months counted
    # at its start), the new plan at what it is billed while the coupon lasts.
    old_off = amounts_off(subscription, old) if discounts_proration(subscription, period_start) else ()
    new_off = amounts_off(subscription, new) if discounts_proration(subscription, at) else ()
    return prorate(
        old,
        new,
        currency=subscription.currency,
        period_start=period_start,
        period_end=period_end,
        at=at,
        new_period_end=new_period_end,
        old_off=old_off,
        new_off=new_off,
    )


async def amend_subscription(
    session: AsyncSession,
    subscription: Subscription,
    new: Sequence[PlanLine],
    proration: Proration,
    *,
    credit_to_balance: bool,
) -> Subscription:
    """Replace the subscription's items by ``new`` as ``proration`` priced them; records ``subscription.updated``
    with the old plan in ``previous_attributes``. Keeps the period, unless the proration started a new one (an
    interval change). With ``credit_to_balance``, a negative net goes to the customer's credit balance, which the
    next invoice uses up. The caller holds the subscription's row lock and has charged what was due."""
    require_not_canceled(subscription)
    interval = await _interval_of(session, subscription, new)
    before = snapshot(subscription)
    prices = {line.price_id: await catalog.get_price(session, subscription.account_id, line.price_id) for line in new}
    _replace_items(subscription, new, prices)
    subscription.scheduled_change = None  # this change replaces one scheduled for the period's end
    if proration.next_renewal_at != subscription.current_period_end and subscription.status != TRIALING:
        subscription.billing_interval, subscription.billing_interval_count = interval
        subscription.current_period_start = proration.at
        subscription.current_period_end = proration.next_renewal_at
        subscription.billing_anchor = proration.at
    await session.flush()
    await session.refresh(subscription, ["items"])
    await record_event(
        session, account_id=subscription.account_id, type="subscription.updated", obj=subscription, before=before
    )
    if credit_to_balance and proration.net_atom < 0:
        await customers.add_credit(session, subscription.customer, -proration.net_atom, subscription.currency)
    return subscription


def scheduled_plan(subscription: Subscription) -> list[PlanLine] | None:
    """The plan a scheduled change starts at the period's end, if one is scheduled."""
    if subscription.scheduled_change is None:
        return None
    return [PlanLine.from_dict(line) for line in subscription.scheduled_change["items"]]


async def preview_period_end_change(
    session: AsyncSession, subscription: Subscription, new: Sequence[PlanLine]
) -> Proration:
    """What scheduling ``new`` for the period's end costs: nothing now, the new plan at the next renewal. The new
    plan must recur at the subscription's interval (``period_end_interval_change``): a new interval starts a new
    period, which is a change made now."""
    require_not_canceled(subscription)
    if not new:
        raise BusinessRuleViolation("A plan change needs at least one item.", code="plan_change_empty")
    interval = await _interval_of(session, subscription, new)
    if interval != (subscription.billing_interval, subscription.billing_interval_count):
        raise BusinessRuleViolation(
            "A change at the period's end keeps the subscription's billing interval; change the interval now.",
            code="period_end_interval_change",
        )
    if (ending := contracts.ends_at_renewal(subscription)) is not None:
        raise BusinessRuleViolation(
            f"Subscription {subscription.id} ends with its period: there is no next period to change.", code=ending
        )
    await _keep_term(session, subscription, new, interval, at=None)
    end = subscription.current_period_end
    return Proration(
        currency=subscription.currency,
        at=end,
        period_start=subscription.current_period_start,
        period_end=end,
        lines=(),
        credit_atom=0,
        charge_atom=0,
        net_atom=0,
        next_renewal_atom=sum(line.amount_atom for line in new),
        next_renewal_at=end,
    )


async def schedule_change(session: AsyncSession, subscription: Subscription, new: Sequence[PlanLine]) -> Subscription:
    """Schedule ``new`` to replace the subscription's items when its period ends, replacing any change already
    scheduled; the current plan itself cancels a scheduled change. Nothing is credited or charged. Records
    ``subscription.updated`` (the items then show ``start_at_end`` and ``drop_at_end``). The caller holds the
    subscription's row lock."""
    await preview_period_end_change(session, subscription, new)
    before = snapshot(subscription)
    held = sorted((line.price_id, line.quantity) for line in current_plan(subscription))
    if held == sorted((line.price_id, line.quantity) for line in new):
        subscription.scheduled_change = None
    else:
        lines = []
        for line in new:
            price = await catalog.get_price(session, subscription.account_id, line.price_id)
            lines.append({**line.as_dict(), "item": _starting_item(line, price)})
        subscription.scheduled_change = {"items": lines}
    await session.flush()
    await record_event(
        session, account_id=subscription.account_id, type="subscription.updated", obj=subscription, before=before
    )
    return subscription


async def apply_renewal_plan(session: AsyncSession, subscription: Subscription) -> None:
    """At the period's end (the renewal billing the next period, the subscription locked): the scheduled plan
    replaces the items, unprorated, and the items a bulk price migration marked move to their new price (in place:
    the same item, as the renewal invoice billed it). Records ``subscription.updated``; does nothing when neither
    is due."""
    moves = price_moves(subscription)
    new = scheduled_plan(subscription)
    if new is None and not moves:
        return
    before = snapshot(subscription)
    if new is not None:
        new = [migrated(line, moves) for line in new]
        prices = {
            line.price_id: await catalog.get_price(session, subscription.account_id, line.price_id) for line in new
        }
        _replace_items(subscription, new, prices)
        subscription.scheduled_change = None
    for item in subscription.items:
        target = item.migrate_to_price
        if target is not None and new is None:
            item.price = target
            item.price_id = target.id
            item.product_id = target.product_id
            item.unit_amount_atom = target.unit_amount_atom
        item.migrate_to_price = None
        item.migrate_to_price_id = None
    await session.flush()
    await session.refresh(subscription, ["items"])
    await record_event(
        session, account_id=subscription.account_id, type="subscription.updated", obj=subscription, before=before
    )


def _starting_item(line: PlanLine, price: Price) -> dict[str, Any]:
    """The item a scheduled line starts, as the subscription's wire items show it until then (JSON: dates as ISO
    strings). Its id is made at the renewal."""
    price_fields = {
        key: value.isoformat() if isinstance(value, datetime) else value for key, value in price.snapshot().items()
    }
    return {
        "id": f"scheduled_{line.price_id}",
        "price": {**price_fields, "custom_fields": None},
        "quantity": line.quantity,
        "is_active": False,
        "start_at_end": True,
        "drop_at_end": False,
        "product_name": line.product_name,
        "product_id": line.product_id,
        "unit_amount_atom": line.unit_amount_atom,
        "amount_atom": line.amount_atom,
        "description": None,
    }


def _replace_items(subscription: Subscription, new: Sequence[PlanLine], prices: dict[str, Price]) -> None:
    """An item selling a price the new plan keeps stays (its id and position; a seat change is a new quantity); the
    others go, and new prices come after every position used so far, so no two positions collide."""
    next_position = max((item.position for item in subscription.items), default=-1) + 1
    reusable = {item.price_id: item for item in subscription.items}
    items: list[SubscriptionItem] = []
    for line in new:
        item = reusable.pop(line.price_id, None)
        if item is None:
            item = SubscriptionItem(id=new_id("si"), account_id=subscription.account_id, position=next_position)
            next_position += 1
        price = prices[line.price_id]
        item.price = price
        item.price_id = line.price_id
        item.product_id = line.product_id
        item.product_name = line.product_name
        item.quantity = line.quantity
        item.unit_amount_atom = line.unit_amount_atom
        items.append(item)
    subscription.items = items


async def _keep_term(
    session: AsyncSession,
    subscription: Subscription,
    new: Sequence[PlanLine],
    interval: tuple[str, int],
    *,
    at: datetime | None,
) -> None:
    """The new plan must not end the contract term sooner (:func:`contracts.require_term_kept`). A change now keeps
    the period and its anchor, unless it changes the interval, which starts a new calendar at ``at``; a change at
    the period's end (``at`` None) starts with the next period."""
    prices = [await catalog.get_price(session, subscription.account_id, line.price_id) for line in new]
    anchor = subscription.billing_anchor or subscription.current_period_start
    if at is None:
        period_start = subscription.current_period_end
    elif interval == (subscription.billing_interval, subscription.billing_interval_count):
        period_start = subscription.current_period_start
    else:
        anchor = period_start = at
    contracts.require_term_kept(subscription, prices, anchor=anchor, period_start=period_start, interval=interval)


async def _interval_of(session: AsyncSession, subscription: Subscription, new: Sequence[PlanLine]) -> tuple[str, int]:
    """The one interval the new plan's prices recur at (in the subscription's currency)."""
    intervals = set()
    for line in new:
        price = await catalog.get_price(session, subscription.account_id, line.price_id)
        if price.recurring_interval is None:
            raise BusinessRuleViolation(f"Price {price.id!r} does not recur.", code="price_not_recurring")
        if price.currency != subscription.currency:
            raise BusinessRuleViolation(
                f"Price {price.id!r} is not in {subscription.currency}, as the subscription is.",
                code="currency_mismatch",
            )
        intervals.add((price.recurring_interval, price.recurring_interval_count or 1))
    if len(intervals) > 1:
        raise BusinessRuleViolation("The new plan's prices must recur at one interval.", code="mixed_intervals")
    return intervals.pop()
