"""Paid's checkouts over checkout sessions: a merchant offers products, each at the plans (its prices) it names or,
naming none, at all its active plans (the default first), and the customer picks a plan, and a currency when the
plans come in several, on the page; the session sells what was picked, one line per product, and is priced, paid
and completed as any other.

Creation checks everything the offer adds (each product and plan, the currencies, the cards, the URLs and the
customer) and reports every problem at once, named as the merchant wrote it (``products[1].plans[0].id``), before
:func:`checkstand.checkout.service.create_session` checks and stores the rest: nothing is stored when anything is
refused. A customer named by the merchant's external id is created on first use, inside the same transaction.

A reusable link (``single_use`` false) is never paid itself: each visit of its page opens a new session made from it
(:func:`checkstand.checkout.offer_choices.open_visit`), so each visit is a purchase of its own. Archiving closes a
checkout for good; a completed one stays completed. A checkout's status is its session's state, or archived.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import plans as plans_of
from checkstand.catalog import service as catalog
from checkstand.catalog.models import Price, Product
from checkstand.checkout import lifecycle
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import EXPIRED, OPEN, PRIMARY_TIER, SUCCESS, CheckoutLineItem, CheckoutSession
from checkstand.checkout.offer_terms import CHECKOUT_ID_PLACEHOLDER, CustomCard, OfferedProduct, OfferTerms
from checkstand.core.errors import Conflict, FieldPath, FieldProblem, InvalidFields, NotFound
from checkstand.core.pagination import Page, PageParams, paginate
from checkstand.customers import service as customers
from checkstand.customers.models import Customer

ARCHIVED: Final = "archived"
STATUSES: Final = (OPEN, SUCCESS, EXPIRED, ARCHIVED)
MAX_PRODUCTS: Final = 20
MAX_PLANS: Final = 20
MAX_CARDS: Final = 5


@dataclass(frozen=True)
class PlanPick:
    """A plan the merchant offers: a price of the product, and the bullet points the page shows for it."""

    price_id: str
    features: Sequence[str] | None = None


@dataclass(frozen=True)
class ProductPick:
    """A product on offer: at the plans named, in that order, or at all its active plans when none are."""

    product_id: str
    plans: Sequence[PlanPick] | None = None


@dataclass(frozen=True)
class NewOffer:
    """What a merchant asks for (Paid's ``create_checkout``); every field is checked by :func:`create_offer`.
    ``{CHECKOUT_ID}`` in ``success_url`` becomes the checkout's Paid id when the customer is sent there."""

    products: Sequence[ProductPick]
    success_url: str
    cancel_url: str | None = None
    customer_id: str | None = None
    external_customer_id: str | None = None
    expires_at: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    collect_address: bool = True
    collect_phone: bool = False
    single_use: bool = True
    currency: str | None = None
    custom_cards: Sequence[CustomCard] = ()


@dataclass(frozen=True)
class _Offered:
    """One product of the offer, checked: its plans, loaded, and where the merchant named each."""

    product: OfferedProduct
    prices: list[Price]
    paths: list[FieldPath]


# --- Creating -------------------------------------------------------------------------------------------------------


async def create_offer(
    session: AsyncSession,
    account_id: str,
    spec: NewOffer,
    *,
    plan_change: checkout_service.PlanChangePricer | None = None,
    held_prices: checkout_service.HeldPrices | None = None,
) -> CheckoutSession:
    """Check the offer, pick each product's first plan in the checkout's currency (for a customer who holds one of
    them already, the first plan it doesn't hold: the checkout then changes its plan), and create the session.
    ``plan_change`` and ``held_prices`` are :func:`checkstand.checkout.service.create_session`'s."""
    success_url, problems = _url_problems(spec.success_url, ("success_url",), placeholder=True)
    cancel_url = None
    if spec.cancel_url is not None:
        cancel_url, cancel_problems = _url_problems(spec.cancel_url, ("cancel_url",))
        problems += cancel_problems
    cards, card_problems = _checked_cards(spec.custom_cards)
    problems += card_problems
    customer, customer_problems = await _named_customer(session, account_id, spec)
    problems += customer_problems
    customer_id = customer.id if customer is not None else None
    offered, product_problems = await _offered_products(session, account_id, spec.products, customer_id)
    problems += product_problems
    currencies: list[str] = []
    if not product_problems:
        currencies, currency_problems = _currencies(offered, spec.currency)
        problems += currency_problems
    if problems:
        raise InvalidFields(problems)

    if customer_id is None and spec.external_customer_id is not None:
        customer_id = (await _customer_by_external_id(session, account_id, spec.external_customer_id)).id
    held = set(await held_prices(session, account_id, customer_id)) if held_prices and customer_id else set()
    picked = [_first_plan(item.prices, currencies[0], held) for item in offered]
    line_paths = [item.paths[item.prices.index(price)] for item, price in zip(offered, picked, strict=True)]
    new = checkout_service.NewCheckoutSession(
        success_url=success_url,
        # PaymentKit's reads need a return URL; the page shows a Paid checkout's cancel link only when it has one.
        return_url=cancel_url or success_url,
        line_items=[checkout_service.LineItemSpec(price.id) for price in picked],
        customer_id=customer_id,
        expires_at=spec.expires_at,
        metadata=spec.metadata,
        offer=OfferTerms(
            products=[item.product for item in offered],
            allowed_currencies=currencies,
            custom_cards=cards,
            cancel_url=cancel_url,
            collect_address=spec.collect_address,
            collect_phone=spec.collect_phone,
            single_use=spec.single_use,
        ),
    )
    try:
        return await checkout_service.create_session(
            session, account_id, new, plan_change=plan_change, held_prices=held_prices
        )
    except InvalidFields as refused:
        raise InvalidFields([_as_offered(problem, line_paths) for problem in refused.problems]) from None


def _url_problems(url: str, path: FieldPath, *, placeholder: bool = False) -> tuple[str, list[FieldProblem]]:
    """A URL the customer is sent to (:func:`checkstand.checkout.service.check_redirect_url`); braces only as the
    whole ``{CHECKOUT_ID}`` placeholder, and only where it is replaced (``placeholder``)."""
    checked, problems = checkout_service.check_redirect_url(url, path)
    if problems:
        return checked, problems
    rest = checked.replace(CHECKOUT_ID_PLACEHOLDER, "") if placeholder else checked
    if "{" in rest or "}" in rest:
        message = (
            f"braces are for the placeholder {CHECKOUT_ID_PLACEHOLDER} only, written exactly so"
            if placeholder
            else f"must not contain braces: {CHECKOUT_ID_PLACEHOLDER} is replaced in successUrl only"
        )
        return checked, [FieldProblem(path, message, "placeholder_invalid")]
    return checked, []


def _checked_cards(cards: Sequence[CustomCard]) -> tuple[list[CustomCard], list[FieldProblem]]:
    checked: list[CustomCard] = []
    problems: list[FieldProblem] = []
    if len(cards) > MAX_CARDS:
        problems.append(FieldProblem(("custom_cards",), f"at most {MAX_CARDS} cards", "too_long"))
    for index, card in enumerate(cards):
        url = card.button_url
        if url is not None:
            url, url_problems = _url_problems(url, ("custom_cards", index, "button_url"))
            problems += url_problems
        checked.append(dataclasses.replace(card, button_url=url))
    return checked, problems


async def _named_customer(
    session: AsyncSession, account_id: str, spec: NewOffer
) -> tuple[Customer | None, list[FieldProblem]]:
    """The customer the merchant named, if it exists yet: by id (unknown is refused), or by external id (unknown
    is created once everything else passes)."""
    if spec.customer_id is not None and spec.external_customer_id is not None:
        message = "give customer_id or external_customer_id, not both"
        return None, [FieldProblem(("external_customer_id",), message, "exclusive")]
    if spec.customer_id is not None:
        try:
            return await customers.get_customer(session, account_id, spec.customer_id), []
        except NotFound:
            return None, [FieldProblem(("customer_id",), f"no customer {spec.customer_id!r}", "not_found")]
    if spec.external_customer_id is not None:
        try:
            return await customers.get_by_external_id(session, account_id, spec.external_customer_id), []
        except NotFound:
            return None, []
    return None, []


async def _customer_by_external_id(session: AsyncSession, account_id: str, external_id: str) -> Customer:
    """The customer with this external id, created now if there is none. The id is unique per account: of two
    checkouts racing to create it, one creates it and the other finds it."""
    try:
        return await customers.create_customer(session, account_id, email=None, external_id=external_id)
    except Conflict:
        return await customers.get_by_external_id(session, account_id, external_id)


async def _offered_products(
    session: AsyncSession, account_id: str, picks: Sequence[ProductPick], customer_id: str | None
) -> tuple[list[_Offered], list[FieldProblem]]:
    offered: list[_Offered] = []
    problems: list[FieldProblem] = []
    if not picks:
        problems.append(FieldProblem(("products",), "offer at least one product", "too_short"))
    if len(picks) > MAX_PRODUCTS:
        problems.append(FieldProblem(("products",), f"at most {MAX_PRODUCTS} products", "too_long"))
    seen: set[str] = set()
    for index, pick in enumerate(picks):
        path: FieldPath = ("products", index)
        if pick.product_id in seen:
            problems.append(FieldProblem((*path, "id"), "this product is offered already", "duplicate"))
            continue
        seen.add(pick.product_id)
        try:
            product = await catalog.get_product(session, account_id, pick.product_id)
        except NotFound:
            problems.append(FieldProblem((*path, "id"), f"no product {pick.product_id!r}", "not_found"))
            continue
        if not product.is_active:
            problems.append(FieldProblem((*path, "id"), f"product {product.id!r} is archived", "product_inactive"))
            continue
        item, item_problems = await _product_plans(session, account_id, product, pick, path, customer_id)
        problems += item_problems
        if item is not None:
            offered.append(item)
    return offered, problems


async def _product_plans(
    session: AsyncSession,
    account_id: str,
    product: Product,
    pick: ProductPick,
    path: FieldPath,
    customer_id: str | None,
) -> tuple[_Offered | None, list[FieldProblem]]:
    if pick.plans is None:
        sellable = [
            price.id
            for price in await plans_of.active_plans(session, product)
            if not _plan_problem(price, product, customer_id)
        ][:MAX_PLANS]
        if not sellable:
            message = f"product {product.id!r} has no active plan this customer can buy"
            return None, [FieldProblem((*path, "id"), message, "no_plans")]
        plans: Sequence[PlanPick] = [PlanPick(price_id) for price_id in sellable]
        paths: list[FieldPath] = [(*path, "id")] * len(plans)
    else:
        plans = pick.plans
        paths = [(*path, "plans", index, "id") for index in range(len(plans))]
    problems: list[FieldProblem] = []
    if pick.plans is not None and not 1 <= len(plans) <= MAX_PLANS:
        problems.append(FieldProblem((*path, "plans"), f"name from 1 to {MAX_PLANS} plans", "too_long"))
    prices: list[Price] = []
    for plan, plan_path in zip(plans, paths, strict=True):
        if any(price.id == plan.price_id for price in prices):
            problems.append(FieldProblem(plan_path, "this plan is offered already", "duplicate"))
            continue
        try:
            price = await catalog.get_price(session, account_id, plan.price_id)
        except NotFound:
            problems.append(FieldProblem(plan_path, f"no plan {plan.price_id!r}", "not_found"))
            continue
        if problem := _plan_problem(price, product, customer_id):
            problems.append(FieldProblem(plan_path, *problem))
            continue
        prices.append(price)
    if problems:
        return None, problems
    features = {plan.price_id: list(plan.features) for plan in plans if plan.features is not None}
    offered = OfferedProduct(product.id, [price.id for price in prices], pick.plans is not None, features)
    return _Offered(offered, prices, paths), []


def _plan_problem(price: Price, product: Product, customer_id: str | None) -> tuple[str, str] | None:
    """Why ``price`` can't be one of ``product``'s plans in this checkout, with its machine type."""
    if price.product_id != product.id:
        return (
            f"plan {price.id!r} is a plan of product {price.product_id!r}, not of {product.id!r}",
            "plan_not_of_product",
        )
    if not price.is_active:
        return f"plan {price.id!r} is archived", "price_inactive"
    if price.prerequisite_price_ids:
        return f"plan {price.id!r} is an add-on: it is sold beside a plan, not as one", "price_not_sellable"
    if price.exclusive_customer_ids and customer_id not in price.exclusive_customer_ids:
        return f"plan {price.id!r} is reserved to other customers", "price_not_sellable"
    return None


def _currencies(offered: Sequence[_Offered], wanted: str | None) -> tuple[list[str], list[FieldProblem]]:
    """The currencies the checkout may be paid in: those every product has a plan in, the first product's order;
    just ``wanted`` when the merchant locks it."""
    common = list(dict.fromkeys(price.currency for price in offered[0].prices))
    for item in offered[1:]:
        common = [currency for currency in common if any(price.currency == currency for price in item.prices)]
    if wanted is not None:
        if wanted.lower() not in common:
            shown = ", ".join(currency.upper() for currency in common) or "none"
            message = f"every product needs a plan in {wanted.upper()}; the plans share: {shown}"
            return [], [FieldProblem(("currency",), message, "currency_not_offered")]
        return [wanted.lower()], []
    if not common:
        message = "the products offered have no plans in a common currency"
        return [], [FieldProblem(("products",), message, "currency_mismatch")]
    return common, []


def _first_plan(prices: Sequence[Price], currency: str, held: Collection[str]) -> Price:
    in_currency = [price for price in prices if price.currency == currency]
    return next((price for price in in_currency if price.id not in held), in_currency[0])


def _as_offered(problem: FieldProblem, line_paths: Sequence[FieldPath]) -> FieldProblem:
    """A session's problem named where the merchant wrote the offer: a line is the plan it sells."""
    path = problem.path
    if path[:1] == ("line_items",):
        index = path[1] if len(path) > 1 else None
        located = line_paths[index] if isinstance(index, int) and index < len(line_paths) else ("products",)
        return FieldProblem(located, problem.msg, problem.type)
    if path[:1] == ("return_url",):
        return FieldProblem(("cancel_url", *path[1:]), problem.msg, problem.type)
    return problem


# --- Reading and archiving ------------------------------------------------------------------------------------------


def status(checkout: CheckoutSession) -> str:
    """The checkout's state (open, success, expired), or archived once the merchant has archived it."""
    return ARCHIVED if checkout.archived_at is not None else checkout_service.state(checkout)


def line_sold(checkout: CheckoutSession) -> CheckoutLineItem | None:
    """The product and plan a completed checkout sold: its paid tier's first recurring line, else its first line."""
    if checkout.status != SUCCESS:
        return None
    lines = checkout_service.tier_items(checkout, checkout.succeeded_tier or PRIMARY_TIER)
    return next((line for line in lines if line.recurring_interval is not None), lines[0] if lines else None)


async def get_checkout(session: AsyncSession, account_id: str, checkout_id: str) -> CheckoutSession:
    return await checkout_service.get_session(session, account_id, checkout_id)


async def list_checkouts(
    session: AsyncSession, account_id: str, wanted: str | None, page: PageParams
) -> Page[CheckoutSession]:
    """The account's checkouts, newest first; ``wanted`` one of :data:`STATUSES` as :func:`status` says it."""
    query = select(CheckoutSession).where(CheckoutSession.account_id == account_id)
    if wanted == ARCHIVED:
        query = query.where(CheckoutSession.archived_at.is_not(None))
    elif wanted is not None:
        query = query.where(checkout_service.state_condition(wanted), CheckoutSession.archived_at.is_(None))
    query = query.order_by(CheckoutSession.created_at.desc(), CheckoutSession.id.desc())
    return await paginate(session, query, page)


async def archive(session: AsyncSession, account_id: str, checkout_id: str) -> CheckoutSession:
    """Close the checkout for good: an open one is expired now (a 409 while a payment of it is in flight), and it
    reads as archived from then on. A completed checkout stays completed, and archiving twice changes nothing."""
    checkout = await checkout_service.lock_session(session, account_id, checkout_id)
    if checkout.status == SUCCESS or checkout.archived_at is not None:
        return checkout
    if checkout_service.state(checkout) == OPEN:
        checkout_service.require_changeable(checkout)
        await lifecycle.expire_session(session, account_id, checkout_id)
    checkout.archived_at = checkout.current_time()
    await session.flush()
    return checkout


async def external_customer_ids(
    session: AsyncSession, account_id: str, customer_ids: Collection[str]
) -> dict[str, str]:
    """The merchant's own ids of these customers, for those that have one."""
    if not customer_ids:
        return {}
    found = await session.execute(
        select(Customer.id, Customer.external_id).where(
            Customer.account_id == account_id, Customer.id.in_(customer_ids), Customer.external_id.is_not(None)
        )
    )
    return {customer_id: external_id for customer_id, external_id in found.tuples() if external_id is not None}
