"""Plan tiers on the hosted page: the tiers of a product family a customer may switch a line to, and the switch.

A customer chooses among the merchant's plans by the family's rank (ids stay off the page); the switch re-prices
every amount under the session's lock, like any other change of an open session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import Price
from checkstand.checkout.models import PRIMARY_TIER, CheckoutLineItem, CheckoutSession
from checkstand.checkout.offer_terms import is_offer
from checkstand.checkout.service import (
    PlanChangePricer,
    discount_terms,
    price_tiers,
    require_changeable,
    sell,
    tier_count,
    tier_items,
)
from checkstand.core.errors import BusinessRuleViolation, InvalidFields
from checkstand.discounts import maths
from checkstand.events.service import record_event, snapshot


@dataclass(frozen=True)
class PlanOption:
    """One tier a customer may choose for a line: the family's ``rank`` names it (ids stay off the page)."""

    rank: int
    price: Price
    selected: bool


@dataclass(frozen=True)
class PlanChoice:
    line: CheckoutLineItem
    options: list[PlanOption]


async def plan_choices(session: AsyncSession, checkout: CheckoutSession) -> list[PlanChoice]:
    """For each primary line whose product is a tier of a product family: the family's tiers that bill in the same
    currency and interval, one price each (the line's own, else the product's default, else its oldest), when there
    are at least two. None with cascade tiers: a fallback tier re-prices the very plan the merchant chose; none in a
    Paid checkout either, whose customer picks among the plans offered (:mod:`checkstand.checkout.offers`)."""
    if tier_count(checkout) > 1 or is_offer(checkout):
        return []
    choices: list[PlanChoice] = []
    for line in tier_items(checkout, PRIMARY_TIER):
        ranked = await catalog.family_plan_prices(
            session,
            checkout.account_id,
            line.product_id,
            currency=checkout.currency,
            recurring_interval=line.recurring_interval,
            recurring_interval_count=line.recurring_interval_count,
        )
        by_rank: dict[int, list[Price]] = {}
        for rank, price in ranked:
            by_rank.setdefault(rank, []).append(price)
        options = [
            PlanOption(rank, _plan_price(prices, line), prices[0].product_id == line.product_id)
            for rank, prices in by_rank.items()
        ]
        if len(options) > 1:
            choices.append(PlanChoice(line, options))
    return choices


def drop_discount_covering_nothing(checkout: CheckoutSession) -> None:
    """Remove a discount that covers none of the session's products now: completion would refuse it once the
    customer had paid."""
    coupon = discount_terms(checkout)
    if coupon is None:
        return
    lines = [maths.Line(item.amount_subtotal_atom, item.product_id) for item in tier_items(checkout, PRIMARY_TIER)]
    try:
        maths.compute_discount(coupon, lines, checkout.currency)
    except BusinessRuleViolation:
        checkout.coupon_id = checkout.promotion_code_id = checkout.promotion_code = None
        checkout.discount = None


def _plan_price(prices: Sequence[Price], line: CheckoutLineItem) -> Price:
    """A tier's price on offer: the one the line sells, else the product's default, else the oldest."""
    product = prices[0].product
    for wanted in (line.price_id, product.default_price_id):
        found = next((price for price in prices if price.id == wanted), None)
        if found is not None:
            return found
    return prices[0]


async def change_plan(
    session: AsyncSession,
    checkout: CheckoutSession,
    position: int,
    rank: int,
    *,
    plan_change: PlanChangePricer | None = None,
) -> bool:
    """Switch a primary line to another tier of its family, on an open session locked by the caller, and re-price
    every amount; answers whether the line changed. Only a tier :func:`plan_choices` offers is taken (a 422 naming
    ``plan`` otherwise), so a tampered form can choose among the merchant's plans and nothing else. A discount that
    covers none of the new plan's products is removed: completion would refuse it once the customer had paid.
    ``plan_change`` re-prorates a plan-change session against its subscription."""
    require_changeable(checkout)
    for choice in await plan_choices(session, checkout):
        if choice.line.position != position:
            continue
        option = next((option for option in choice.options if option.rank == rank), None)
        if option is None:
            break
        if option.selected:
            return False
        before = snapshot(checkout)
        choice.line.description = None  # the merchant's words described the plan that is being left
        sell(choice.line, option.price)
        drop_discount_covering_nothing(checkout)
        price_tiers(checkout)
        if plan_change is not None:
            await plan_change(session, checkout)
        await session.flush()
        await record_event(
            session, account_id=checkout.account_id, type="checkout_session.updated", obj=checkout, before=before
        )
        return True
    raise InvalidFields.one(("plan",), "choose one of the plans offered", "plan_not_offered")
