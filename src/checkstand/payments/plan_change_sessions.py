"""Checkout that upgrades: a session for a customer who already subscribes to the product family it sells changes
that subscription instead of starting a second one.

Lives in payments because it reads subscriptions (a layer above checkout): checkout's creation and plan choice call
:func:`price_session` through their ``plan_change`` hook. The session is priced with the proration engine at its
customer's time (``proration_date``) and charges the net when positive. Paying it locks the subscription row first
(:func:`hold_subscription`): a second session for the same subscription, or one priced against a plan or period that
has since changed (another change applied, a renewal), is refused before any charge. Completion re-prices at the same
instant against the locked subscription and amends it (:func:`complete_plan_change`).

A session created with ``plan_change_timing`` ``period_end`` (:func:`pricer`) instead schedules the change for the
subscription's period end: nothing is due today, and completion stores the change for the renewal to apply. The
timing is kept in the session's ``proration`` so choosing another plan on the page re-prices it the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import FamilyMember
from checkstand.checkout import metered, trials
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import PRIMARY_TIER, CheckoutSession
from checkstand.checkout.service import PlanChangePricer
from checkstand.core.errors import Conflict, InvalidFields
from checkstand.customers import service as customers
from checkstand.payments import settlement
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.lifecycle import bills_usage
from checkstand.subscriptions.models import ACTIVE, TRIALING, Subscription
from checkstand.subscriptions.plan_changes import (
    NOW,
    PERIOD_END,
    amend_subscription,
    classify_change,
    current_plan,
    preview_period_end_change,
    preview_plan_change,
    schedule_change,
)
from checkstand.subscriptions.proration import PlanLine, Proration
from checkstand.test_clocks.service import now_for_customer

CHANGEABLE: Final = (ACTIVE, TRIALING)
CREDIT_APPLIED: Final = trials.CREDIT_APPLIED


def pricer(timing: str | None) -> PlanChangePricer:
    """The ``plan_change`` hook of a session created with ``plan_change_timing`` (``now`` when None)."""

    async def price(session: AsyncSession, checkout: CheckoutSession) -> None:
        await price_session(session, checkout, timing=timing)

    return price


async def price_session(session: AsyncSession, checkout: CheckoutSession, *, timing: str | None = None) -> None:
    """Make the session a plan change when its customer's active or trialing subscription holds a product of the same
    family (or the same product) as a recurring line, and price it; otherwise leave it a new purchase (so is a
    session selling only add-ons of the plan the subscription holds: they are bought beside it). The same price is a
    409 ``already_subscribed``; a change the account's upgrade paths refuse is B's typed 4xx."""
    if checkout.customer_id is None:
        return
    new = plan_lines(checkout)
    if not new:
        return
    subscription = await _subscription_changed(session, checkout, new)
    if subscription is None:
        return
    if bills_usage(subscription) or await metered.metered_prices(session, checkout):
        # Its usage of the period is billed at the period's end: a change mid-period would leave it unbilled.
        raise InvalidFields.one(
            ("line_items",),
            f"customer {checkout.customer_id!r} subscribes to this plan ({subscription.id!r}): a plan change to or "
            "from a metered price is not supported yet",
            "not_supported",
        )
    old = current_plan(subscription)
    if sorted(line.price_id for line in old) == sorted(line.price_id for line in new):
        raise Conflict(
            f"Customer {checkout.customer_id!r} already subscribes to this plan ({subscription.id!r}).",
            code="already_subscribed",
        )
    kind = await classify_change(session, subscription, new)
    timing = timing or (checkout.proration or {}).get("timing", NOW)
    at = await now_for_customer(session, checkout.customer_id)
    if timing == PERIOD_END:
        proration = await preview_period_end_change(session, subscription, new)
    else:
        proration = await preview_plan_change(session, subscription, new, at=at)
    due = proration.amount_due_atom
    checkout.changes_subscription_id = subscription.id
    checkout.proration_date = at
    checkout.proration = {
        **proration.as_dict(),
        "timing": timing,
        "kind": kind,
        "current_plan": [line.as_dict() for line in old],
        "new_plan": [line.as_dict() for line in new],
        # The customer's credit balance pays what it can of the amount due, as it would on a renewal invoice.
        CREDIT_APPLIED: min(customers.available_credit(subscription.customer, subscription.currency), due),
    }
    checkout.amount_due_today_atom = trials.amount_due_today(checkout, PRIMARY_TIER)


def plan_lines(checkout: CheckoutSession) -> list[PlanLine]:
    """The primary tier's recurring lines, as the plan the session sells."""
    return [
        PlanLine.of(
            item.price_id,
            item.product_id,
            item.product_name,
            item.quantity,
            item.unit_amount_atom,
            item.amount_subtotal_atom,
        )
        for item in checkout_service.tier_items(checkout, PRIMARY_TIER)
        if item.recurring_interval is not None
    ]


async def _subscription_changed(
    session: AsyncSession, checkout: CheckoutSession, new: Sequence[PlanLine]
) -> Subscription | None:
    assert checkout.customer_id is not None
    products = {line.product_id for line in new}
    prices = {line.price_id: await catalog.get_price(session, checkout.account_id, line.price_id) for line in new}
    family_ids = set(
        await session.scalars(
            select(FamilyMember.family_id).where(
                FamilyMember.account_id == checkout.account_id, FamilyMember.product_id.in_(products)
            )
        )
    )
    for subscription in await subscriptions.list_by_customer(session, checkout.account_id, checkout.customer_id):
        if subscription.status not in CHANGEABLE:
            continue
        held_prices = {item.price_id for item in subscription.items}
        if all(not held_prices.isdisjoint(prices[line.price_id].prerequisite_price_ids) for line in new):
            continue  # add-ons on the plan it holds: bought beside it, not instead of it
        held = {item.product_id for item in subscription.items}
        if held & products:
            return subscription
        held_families = set(
            await session.scalars(
                select(FamilyMember.family_id).where(
                    FamilyMember.account_id == checkout.account_id, FamilyMember.product_id.in_(held)
                )
            )
        )
        if held_families & family_ids:
            return subscription
    return None


async def hold_subscription(session: AsyncSession, checkout: CheckoutSession) -> None:
    """Before a plan-change session's payment starts (the session locked by the caller): lock its subscription's row
    and refuse (409) when another session for it is being paid, or when the plan or period it was priced against has
    changed since. So of two changes paid at once, or a change racing a renewal, one applies and the other is
    refused before any money moves."""
    if checkout.changes_subscription_id is None or checkout.proration is None:
        return
    subscription = await subscriptions.locked_subscription(
        session, checkout.account_id, checkout.changes_subscription_id
    )
    paying = await session.scalar(
        select(CheckoutSession.id).where(
            CheckoutSession.account_id == checkout.account_id,
            CheckoutSession.changes_subscription_id == subscription.id,
            CheckoutSession.id != checkout.id,
            CheckoutSession.paying_attempt_id.is_not(None),
        )
    )
    if paying is not None:
        raise Conflict(
            f"Another plan change of subscription {subscription.id!r} is being paid.", code="plan_change_in_progress"
        )
    require_unchanged(checkout, subscription)
    await require_no_renewal_underway(session, subscription)


def nothing_due(checkout: CheckoutSession) -> bool:
    """A plan-change session whose net is nothing or a credit, or that the customer's credit balance pays in full:
    it completes with no processor call."""
    return (
        checkout.changes_subscription_id is not None
        and checkout.proration is not None
        and trials.amount_due_today(checkout, PRIMARY_TIER) == 0
    )


def require_unchanged(checkout: CheckoutSession, subscription: Subscription) -> None:
    """The subscription is still on the plan and period the session was priced against, and its customer still
    holds the credit the session counted on (a 409 otherwise)."""
    assert checkout.proration is not None
    priced = [(line["price_id"], line["quantity"]) for line in checkout.proration["current_plan"]]
    held = [(line.price_id, line.quantity) for line in current_plan(subscription)]
    if (
        subscription.status not in CHANGEABLE
        or priced != held
        or checkout.proration["period_start"] != subscription.current_period_start.isoformat()
        or customers.available_credit(subscription.customer, subscription.currency) < credit_applied(checkout)
    ):
        raise Conflict(
            f"Subscription {subscription.id!r} changed since this session was priced; start a new checkout.",
            code="plan_change_stale",
        )


async def require_no_renewal_underway(session: AsyncSession, subscription: Subscription) -> None:
    """The subscription (locked) has no renewal being collected (:func:`settlement.renewal_underway`): a 409
    ``plan_change_stale`` otherwise; refused, the customer starts a new checkout priced against the renewed
    period."""
    underway = await settlement.renewal_underway(session, subscription)
    if underway:
        raise Conflict(
            f"Subscription {subscription.id!r} is being renewed; start a new checkout once it is.",
            code="plan_change_stale",
        )


async def complete_plan_change(session: AsyncSession, checkout: CheckoutSession) -> Subscription:
    """Amend the subscription (locked) as the session priced it: the same instant, so the same proration; a credit
    goes to the customer's balance, and the balance the session counted on is used up. A ``period_end`` session
    schedules the change instead."""
    assert checkout.changes_subscription_id is not None
    assert checkout.proration_date is not None
    subscription = await subscriptions.locked_subscription(
        session, checkout.account_id, checkout.changes_subscription_id
    )
    require_unchanged(checkout, subscription)
    await require_no_renewal_underway(session, subscription)
    assert checkout.proration is not None
    new = plan_lines(checkout)
    if checkout.proration.get("timing") == PERIOD_END:
        return await schedule_change(session, subscription, new)
    proration = await preview_plan_change(session, subscription, new, at=checkout.proration_date)
    await customers.use_credit(session, subscription.customer, subscription.currency, credit_applied(checkout))
    return await amend_subscription(session, subscription, new, proration, credit_to_balance=True)


def credit_applied(checkout: CheckoutSession) -> int:
    """What of the customer's credit balance pays the session's amount due (0 for a new purchase)."""
    return int((checkout.proration or {}).get(CREDIT_APPLIED, 0))


@dataclass(frozen=True)
class PlanChange:
    """A plan-change session's breakdown as it was priced (``CheckoutSession.proration``), typed for the customer's
    views: the hosted page and the public checkout API show the same amounts the payment charges."""

    kind: str
    current_plan: list[PlanLine]
    new_plan: list[PlanLine]
    proration: Proration
    credit_balance_applied_atom: int

    @property
    def amount_due_today_atom(self) -> int:
        """What paying charges now: the proration's amount due less the credit balance it uses."""
        return self.proration.amount_due_atom - self.credit_balance_applied_atom


def plan_change_of(checkout: CheckoutSession) -> PlanChange | None:
    """The session's priced change; None for a new purchase."""
    if checkout.proration is None:
        return None
    stored = checkout.proration
    return PlanChange(
        kind=stored["kind"],
        current_plan=[PlanLine.from_dict(line) for line in stored["current_plan"]],
        new_plan=[PlanLine.from_dict(line) for line in stored["new_plan"]],
        proration=Proration.from_dict(stored),
        credit_balance_applied_atom=credit_applied(checkout),
    )
