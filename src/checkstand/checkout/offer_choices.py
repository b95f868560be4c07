"""What the customer of a Paid checkout picks on the page: one of the plans offered for each product, and the
currency when the plans come in several; and the visits of a reusable link, each a session of its own.

A plan is named by its place among its product's offered plans, never by its id; only what the offer offers is
taken, so a tampered form picks among the merchant's plans and nothing else. A change re-prices every amount under
the session's lock, like any other change of an open session.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from checkstand.catalog.models import Price
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import PRIMARY_TIER, CheckoutLineItem, CheckoutSession
from checkstand.checkout.offer_terms import OfferedProduct, OfferTerms, is_offer
from checkstand.checkout.plans import drop_discount_covering_nothing
from checkstand.core.errors import BusinessRuleViolation, Conflict, FieldProblem, InvalidFields
from checkstand.events.service import record_event, snapshot


@dataclass(frozen=True)
class PlanOption:
    """A plan the customer may pick for a line: ``index`` is its place among the product's offered plans, which
    names it on the page (ids stay off it)."""

    index: int
    price: Price
    features: Sequence[str]
    selected: bool


@dataclass(frozen=True)
class OfferChoice:
    line: CheckoutLineItem
    options: list[PlanOption]


async def offer_choices(session: AsyncSession, checkout: CheckoutSession) -> list[OfferChoice]:
    """For each product of the offer with at least two plans on sale in the checkout's currency: those plans, the
    one its line sells selected."""
    if not is_offer(checkout):
        return []
    prices = await _offered_prices(session, checkout)
    choices = []
    for line, product in _offered_lines(checkout):
        options = [
            PlanOption(index, price, (product.features or {}).get(price.id, ()), price.id == line.price_id)
            for index, price in _on_sale(product, prices, checkout.currency)
        ]
        if len(options) > 1:
            choices.append(OfferChoice(line, options))
    return choices


def currency_choices(checkout: CheckoutSession) -> list[str]:
    """The currencies the customer may switch the checkout to: none for a plan change, which keeps its
    subscription's currency."""
    if checkout.changes_subscription_id is not None or len(checkout.allowed_currencies) < 2:
        return []
    return list(checkout.allowed_currencies)


async def choose(
    session: AsyncSession,
    checkout: CheckoutSession,
    picks: Mapping[int, int],
    currency: str | None = None,
    *,
    plan_change: checkout_service.PlanChangePricer | None = None,
) -> bool:
    """Sell the plans picked (``picks``: a line's position to the index of its product's plan, as
    :func:`offer_choices` offers them) in ``currency``, on an open session locked by the caller, and re-price it;
    answers whether anything changed. In another currency, a line not picked for takes its product's first plan in
    it. Only what the offer offers is taken (a 422 naming ``plans``, or ``currency``, otherwise); a discount that
    covers none of the new plans is removed; ``plan_change`` re-prorates a plan change."""
    checkout_service.require_changeable(checkout)
    target = checkout.currency if currency is None else currency.lower()
    if target != checkout.currency and target not in currency_choices(checkout):
        raise InvalidFields.one(("currency",), "choose one of the currencies offered", "currency_not_offered")
    prices = await _offered_prices(session, checkout)
    offered = _offered_lines(checkout)
    problems = [
        FieldProblem(("plans", position), "choose one of the plans offered", "plan_not_offered")
        for position in sorted(set(picks) - set(range(len(offered))))
    ]
    changes: list[tuple[CheckoutLineItem, Price]] = []
    for position, (line, product) in enumerate(offered):
        on_sale = dict(_on_sale(product, prices, target))
        if position in picks:
            price = on_sale.get(picks[position])
        elif target != checkout.currency:
            price = next(iter(on_sale.values()), None)
        else:
            continue
        if price is None:
            problems.append(FieldProblem(("plans", position), "choose one of the plans offered", "plan_not_offered"))
        elif price.id != line.price_id:
            changes.append((line, price))
    if problems:
        raise InvalidFields(problems)
    if not changes and target == checkout.currency:
        return False
    changed = {line.position: price for line, price in changes}
    intervals = {
        (sold.recurring_interval, sold.recurring_interval_count)
        for sold in [changed.get(line.position, line) for line in checkout_service.tier_items(checkout, PRIMARY_TIER)]
        if sold.recurring_interval is not None
    }
    if len(intervals) > 1:
        raise InvalidFields.one(("plans",), "the plans chosen must bill at one interval", "interval_mismatch")
    before = snapshot(checkout)
    for line, price in changes:
        line.description = None
        checkout_service.sell(line, price)
    checkout.currency = target
    drop_discount_covering_nothing(checkout)
    checkout_service.price_tiers(checkout)
    if plan_change is not None:
        await plan_change(session, checkout)
    await session.flush()
    await record_event(
        session, account_id=checkout.account_id, type="checkout_session.updated", obj=checkout, before=before
    )
    return True


async def open_visit(
    session: AsyncSession,
    link: CheckoutSession,
    *,
    plan_change: checkout_service.PlanChangePricer | None = None,
    held_prices: checkout_service.HeldPrices | None = None,
) -> CheckoutSession:
    """A new session for one visit of a reusable link, on the link's terms and selling what it sells now, single
    use and made from it. A link that is no longer open, or sells what can no longer be sold, is a 409."""
    checkout_service.require_open(link)
    if link.single_use or link.archived_at is not None:
        raise Conflict(f"Checkout {link.id!r} is not a reusable link.", code="checkout_not_reusable")
    terms = dataclasses.replace(OfferTerms.of(link), single_use=True, made_from_id=link.id)
    new = checkout_service.NewCheckoutSession(
        success_url=link.success_url,
        return_url=link.return_url,
        line_items=[
            checkout_service.LineItemSpec(line.price_id, line.quantity)
            for line in checkout_service.tier_items(link, PRIMARY_TIER)
        ],
        customer_id=link.customer_id,
        metadata=link.session_metadata,
        offer=terms,
    )
    try:
        return await checkout_service.create_session(
            session, link.account_id, new, plan_change=plan_change, held_prices=held_prices
        )
    except (InvalidFields, BusinessRuleViolation) as refused:
        raise Conflict(f"Checkout {link.id!r} can't be bought now: {refused}", code="checkout_unavailable") from refused


def _offered_lines(checkout: CheckoutSession) -> list[tuple[CheckoutLineItem, OfferedProduct]]:
    """Each primary line beside the product of the offer it sells (the offer made them in its order)."""
    products = [OfferedProduct.of(stored) for stored in checkout.offered_products]
    return list(zip(checkout_service.tier_items(checkout, PRIMARY_TIER), products, strict=False))


async def _offered_prices(session: AsyncSession, checkout: CheckoutSession) -> dict[str, Price]:
    ids = {price_id for stored in checkout.offered_products for price_id in stored["price_ids"]}
    found = await session.scalars(
        select(Price)
        .options(joinedload(Price.product))
        .where(Price.account_id == checkout.account_id, Price.id.in_(ids))
    )
    return {price.id: price for price in found}


def _on_sale(product: OfferedProduct, prices: Mapping[str, Price], currency: str) -> list[tuple[int, Price]]:
    """The product's offered plans still on sale in ``currency``, each with its index in the offer."""
    return [
        (index, price)
        for index, price_id in enumerate(product.price_ids)
        if (price := prices.get(price_id)) is not None
        and price.currency == currency
        and price.is_active
        and price.product.is_active
        and price.product.deleted_at is None
    ]
