"""A product's prices as plans (Paid's word): the terms a plan charges, which plan is the product's default (its base
pricing), how plans rank on the product's upgrade path, and the lists and look-ups Paid's catalog makes.

A plan is a price, under the same ``price_`` id in both dialects. What a price charges never changes (Stripe's rule:
every past checkout still says what was charged), so a change of a plan's terms is refused, while the terms it
already has change nothing: a client that sends a plan back as it read it succeeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from checkstand.catalog import external_ids
from checkstand.catalog import service as catalog
from checkstand.catalog.models import LICENSED, RECURRING, USAGE_AGGREGATIONS, Price, Product
from checkstand.catalog.pricing import PER_UNIT, TIERED
from checkstand.core.errors import Conflict, FieldProblem, InvalidFields, NotFound
from checkstand.core.listing import contains
from checkstand.core.lookup import locked
from checkstand.core.pagination import Page, PageParams, paginate

TERMS_NEVER_CHANGE: Final = (
    "a price's terms never change once it exists (what its buyers paid stays true); "
    "create a plan with the new terms and make it the default instead"
)
# How often a recurring price bills, in the names plans are grouped by on an upgrade path; any other recurrence is
# "custom", and a one-time price bills once.
FREQUENCIES: Final[Mapping[tuple[str, int], str]] = {
    ("month", 1): "monthly",
    ("month", 3): "quarterly",
    ("month", 6): "semiannually",
    ("year", 1): "annual",
}
CUSTOM: Final = "custom"
ONCE: Final = "once"


@dataclass(frozen=True)
class PriceTerms:
    """What a price charges, in :func:`catalog.create_price`'s words: the part of a price that never changes."""

    currency: str
    unit_amount_atom: int
    recurring_interval: str | None = None
    recurring_interval_count: int | None = None
    billing_scheme: str = PER_UNIT
    tiers_mode: str | None = None
    tiers: Sequence[Mapping[str, Any]] | None = None
    usage_type: str = LICENSED
    metered_id: str | None = None

    def price_fields(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "unit_amount_atom": self.unit_amount_atom,
            "recurring_interval": self.recurring_interval,
            "recurring_interval_count": self.recurring_interval_count,
            "billing_scheme": self.billing_scheme,
            "tiers_mode": self.tiers_mode,
            "tiers": None if self.tiers is None else [dict(tier) for tier in self.tiers],
            "usage_type": self.usage_type,
            "metered_id": self.metered_id,
        }

    def charged_by(self, price: Price) -> bool:
        """Whether ``price`` charges exactly these terms, and nothing these terms can't say (packages, a meter's
        other aggregations, contract terms)."""
        recurring = self.recurring_interval is not None
        return (
            price.currency == self.currency.lower()
            and price.unit_amount_atom == self.unit_amount_atom
            and price.pricing_type == (RECURRING if recurring else catalog.ONE_TIME)
            and price.recurring_interval == self.recurring_interval
            and price.recurring_interval_count == ((self.recurring_interval_count or 1) if recurring else None)
            and price.billing_scheme == self.billing_scheme
            and price.tiers_mode == (self.tiers_mode if self.billing_scheme == TIERED else None)
            and _tiers(price.tiers) == _tiers(self.tiers)
            and price.usage_type == self.usage_type
            and price.metered_id == self.metered_id
            and price.quantity_divisor is None
            and price.usage_aggregation == USAGE_AGGREGATIONS[0]
            and price.contract_term_multiple is None
        )


def _tiers(tiers: Sequence[Mapping[str, Any]] | None) -> list[tuple[int | None, int, int]] | None:
    if tiers is None:
        return None
    return [
        (tier.get("units_upto"), int(tier.get("unit_amount_atom") or 0), int(tier.get("flat_amount_atom") or 0))
        for tier in tiers
    ]


def frequency_of(price: Price) -> str:
    """How often the price bills, as plans are grouped on an upgrade path."""
    if price.pricing_type != RECURRING or price.recurring_interval is None:
        return ONCE
    return FREQUENCIES.get((price.recurring_interval, price.recurring_interval_count or 1), CUSTOM)


@dataclass(frozen=True)
class BasePricing:
    """A product's base pricing as a merchant sets it: the terms, a name for the price that carries them, and the
    attribute it names (a product's one attribute is the product itself: its id, or None)."""

    terms: PriceTerms
    name: str | None = None
    attribute_id: str | None = None


@dataclass(frozen=True)
class UpgradeGroup:
    """Plans of one billing frequency, lowest first; ``frequency`` None when the merchant didn't say which."""

    plan_ids: Sequence[str]
    frequency: str | None = None


@dataclass(frozen=True)
class ProductDetail:
    """A product and its base pricing (its default price), if it has one."""

    product: Product
    base_price: Price | None = None


# Products


async def find_products(
    session: AsyncSession,
    account_id: str,
    page: PageParams,
    *,
    name: str | None = None,
    active: bool | None = None,
    archived: bool | None = None,
) -> Page[Product]:
    """The account's products, newest first; ``name`` matches anywhere in the name, ignoring case, and archived
    (deleted) products are listed unless ``archived`` says otherwise."""
    query = select(Product).where(Product.account_id == account_id)
    if name:
        query = query.where(contains(Product.name, name))
    if active is not None:
        query = query.where(Product.is_active.is_(active))
    if archived is not None:
        query = query.where(Product.deleted_at.is_not(None) if archived else Product.deleted_at.is_(None))
    return await paginate(session, query.order_by(Product.created_at.desc(), Product.id.desc()), page)


async def product_detail(
    session: AsyncSession, account_id: str, product_id: str | None = None, *, external_id: str | None = None
) -> ProductDetail:
    """A product (by id, or else by external id; archived ones too) with its base pricing."""
    if product_id is not None:
        product = await catalog.get_product(session, account_id, product_id, include_deleted=True)
    else:
        product = await external_ids.get_product(session, account_id, str(external_id))
    return ProductDetail(product, await _base_price(session, product))


async def update_product_and_pricing(
    session: AsyncSession,
    account_id: str,
    product_id: str | None,
    changes: Mapping[str, Any],
    base: BasePricing | None = None,
    *,
    external_id: str | None = None,
) -> ProductDetail:
    """Change a product's fields (found by id, or else by external id; as :func:`catalog.update_product` takes
    them) and its base pricing: a product without a default price gets one with ``base``'s terms; one with a default
    price keeps it when ``base`` has its terms (only its name follows), and any other terms are refused at
    ``pricing``."""
    changes = dict(changes)
    product = (await product_detail(session, account_id, product_id, external_id=external_id)).product
    if product.deleted_at is not None:
        raise Conflict(f"Product {product.id!r} is deleted and can't be changed.", code="product_deleted")
    if base is not None:
        if base.attribute_id not in (None, product.id):
            raise InvalidFields.one(("attribute_id",), f"a product's one attribute is the product itself: {product.id}")
        # Read afresh under the product's lock, so two requests can't both find no base pricing and both make one.
        await session.scalar(locked(select(Product).where(Product.id == product.id)))
        current = await _base_price(session, product)
        if current is None:
            made = await catalog.create_price(
                session, account_id, product_id=product.id, name=base.name, **base.terms.price_fields()
            )
            changes["default_price_id"] = made.id
        elif not base.terms.charged_by(current):
            raise InvalidFields.one(("pricing",), TERMS_NEVER_CHANGE)
        elif base.name is not None and base.name != current.name:
            await catalog.update_price(session, account_id, current.id, {"name": base.name})
    product = await catalog.update_product(session, account_id, product.id, changes)
    return ProductDetail(product, await _base_price(session, product))


async def _base_price(session: AsyncSession, product: Product) -> Price | None:
    if product.default_price_id is None:
        return None
    return await catalog.get_price(session, product.account_id, product.default_price_id)


# Base pricing (Paid's product attributes and pricing)


async def base_pricing(session: AsyncSession, account_id: str, product_id: str) -> Price:
    """The product's base pricing: its default price; a product without one has none to read or change."""
    detail = await product_detail(session, account_id, product_id)
    if detail.base_price is None:
        raise NotFound("product_attribute", product_id)
    return detail.base_price


async def base_pricings(session: AsyncSession, account_id: str, product_id: str) -> list[Price]:
    """The product's base pricing, as a list: none while it has no default price."""
    detail = await product_detail(session, account_id, product_id)
    return [] if detail.base_price is None else [detail.base_price]


async def reprice(session: AsyncSession, account_id: str, product_id: str, terms: PriceTerms) -> Price:
    """Set a product's base pricing to ``terms``: answered with it when it already charges them, refused otherwise
    (terms never change)."""
    price = await base_pricing(session, account_id, product_id)
    if not terms.charged_by(price):
        raise InvalidFields.one(("pricing",), TERMS_NEVER_CHANGE)
    return price


# Plans


async def create_plan(
    session: AsyncSession,
    account_id: str,
    *,
    product_id: str,
    terms: PriceTerms,
    name: str | None = None,
    external_id: str | None = None,
    is_default: bool = False,
    attribute_id: str | None = None,
    currencies: Sequence[str] | None = None,
) -> Price:
    """A new price of the product with ``terms``; with ``is_default`` it becomes the product's default price. The
    attribute it prices, if named, is the product (its one attribute); its ``currencies``, if given, its own."""
    problems = _identity_problems(product_id, terms.currency, attribute_id, currencies)
    if problems:
        raise InvalidFields(problems)
    if external_id is not None:
        await external_ids.ensure_free(session, Price, account_id, external_id, "price")
    price = await catalog.create_price(session, account_id, product_id=product_id, name=name, **terms.price_fields())
    if external_id is not None:
        price.external_id = external_id
        await external_ids.save(session, price, "price")
    if is_default:
        await catalog.update_product(session, account_id, product_id, {"default_price_id": price.id})
    return price


async def get_plan(
    session: AsyncSession, account_id: str, price_id: str | None = None, *, external_id: str | None = None
) -> Price:
    """A price (by id, or else by external id) with its product loaded."""
    if price_id is not None:
        return await catalog.get_price(session, account_id, price_id)
    return await external_ids.get_price(session, account_id, str(external_id))


async def update_plan(
    session: AsyncSession,
    account_id: str,
    price_id: str | None,
    changes: Mapping[str, Any],
    *,
    external_id: str | None = None,
) -> Price:
    """Change what a plan (found by id, or else by external id) may change: ``name``, ``external_id``,
    ``is_active`` and ``is_default`` (whether it is its product's default price); ``terms``, ``attribute_id`` and
    ``currencies`` must be those it has. A plan restored and made the default at once is restored first; one
    archived and no longer the default stops being the default first."""
    price = await get_plan(session, account_id, price_id, external_id=external_id)
    price_id = price.id
    problems = _identity_problems(
        price.product_id, price.currency, changes.get("attribute_id"), changes.get("currencies")
    )
    if "terms" in changes and not changes["terms"].charged_by(price):
        problems.append(FieldProblem(("pricing",), TERMS_NEVER_CHANGE))
    if problems:
        raise InvalidFields(problems)
    if changes.get("external_id") not in (None, price.external_id):
        await external_ids.ensure_free(session, Price, account_id, changes["external_id"], "price")
    price_changes = {name: changes[name] for name in ("name", "is_active") if name in changes}
    if changes.get("is_active") is True:
        price = await catalog.update_price(session, account_id, price_id, price_changes)
        price_changes = {}
    if "is_default" in changes:
        await _make_default(session, price, bool(changes["is_default"]))
    if price_changes:
        price = await catalog.update_price(session, account_id, price_id, price_changes)
    if "external_id" in changes:
        price.external_id = changes["external_id"]
        await external_ids.save(session, price, "price")
    return price


def _identity_problems(
    product_id: str, currency: str, attribute_id: str | None, currencies: Sequence[str] | None
) -> list[FieldProblem]:
    """A plan prices its product's one attribute (the product itself) in one currency."""
    problems: list[FieldProblem] = []
    if attribute_id is not None and attribute_id != product_id:
        problems.append(
            FieldProblem(("attribute_id",), f"a product's one attribute is the product itself: {product_id}")
        )
    if currencies is not None and [code.lower() for code in currencies] != [currency.lower()]:
        problems.append(
            FieldProblem(("currencies",), f"a plan is sold in one currency, its price's: [{currency.upper()}]")
        )
    return problems


async def _make_default(session: AsyncSession, price: Price, is_default: bool) -> None:
    product = price.product
    if is_default and product.default_price_id != price.id:
        await catalog.update_product(session, price.account_id, product.id, {"default_price_id": price.id})
    elif not is_default and product.default_price_id == price.id:
        await catalog.update_product(session, price.account_id, product.id, {"default_price_id": None})


async def active_plans(session: AsyncSession, product: Product) -> list[Price]:
    """The product's active prices, its default first, then in upgrade order and by age: what a Paid checkout
    offers of a product it names without plans ("omit to offer all of the product's plans")."""
    prices = await session.scalars(
        select(Price)
        .where(Price.account_id == product.account_id, Price.product_id == product.id, Price.is_active.is_(True))
        .order_by(Price.upgrade_path_order.is_(None), Price.upgrade_path_order, Price.created_at, Price.id)
    )
    return sorted(prices, key=lambda price: price.id != product.default_price_id)


async def list_plans(
    session: AsyncSession,
    account_id: str,
    page: PageParams,
    *,
    product_id: str | None = None,
    external_product_id: str | None = None,
    include_archived: bool = False,
) -> Page[Price]:
    """The account's prices, newest first, with their products loaded: of one product (by id or external id) if
    named, archived ones only with ``include_archived``."""
    query = select(Price).where(Price.account_id == account_id).options(joinedload(Price.product))
    if product_id is not None:
        query = query.where(
            Price.product_id == (await catalog.get_product(session, account_id, product_id, include_deleted=True)).id
        )
    if external_product_id is not None:
        query = query.where(
            Price.product_id == (await external_ids.get_product(session, account_id, external_product_id)).id
        )
    if not include_archived:
        query = query.where(Price.is_active.is_(True))
    return await paginate(session, query.order_by(Price.created_at.desc(), Price.id.desc()), page)


async def order_upgrade_path(
    session: AsyncSession, account_id: str, product_id: str, groups: Sequence[UpgradeGroup]
) -> list[Price]:
    """Rank the product's plans: each group lists the plans of one billing frequency, lowest first, and each plan
    takes its place in its group (1 for the first) as ``upgrade_path_order``; the product's plans left out lose
    theirs. A plan named twice, not of the product, or not of its group's frequency is refused, as are two groups of
    one frequency (their places would compete). Answers the plans ranked, group by group."""
    product = await session.scalar(
        locked(select(Product).where(Product.id == product_id, Product.account_id == account_id))
    )
    if product is None:
        raise NotFound("product", product_id)
    prices = {
        price.id: price
        for price in await session.scalars(
            select(Price)
            .where(Price.account_id == account_id, Price.product_id == product.id)
            .options(joinedload(Price.product))
        )
    }
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    frequencies: dict[str, int] = {}
    for index, group in enumerate(groups):
        found = [prices[plan_id] for plan_id in group.plan_ids if plan_id in prices]
        frequency = group.frequency or (frequency_of(found[0]) if found else None)
        if frequency is not None and frequencies.setdefault(frequency, index) != index:
            problems.append(
                FieldProblem(
                    ("groups", index, "frequency"),
                    f"{frequency} plans are already ranked in group {frequencies[frequency]}",
                )
            )
        for position, plan_id in enumerate(group.plan_ids):
            where = ("groups", index, "plan_ids", position)
            price = prices.get(plan_id)
            if price is None:
                problems.append(FieldProblem(where, f"no plan {plan_id!r} of product {product.id}", "not_found"))
            elif plan_id in seen:
                problems.append(FieldProblem(where, "is listed twice"))
            elif frequency is not None and frequency_of(price) != frequency:
                problems.append(FieldProblem(where, f"bills {frequency_of(price)}, not {frequency}"))
            seen.add(plan_id)
    if problems:
        raise InvalidFields(problems)
    ranked: list[Price] = []
    for group in groups:
        for position, plan_id in enumerate(group.plan_ids, start=1):
            prices[plan_id].upgrade_path_order = position
            ranked.append(prices[plan_id])
    for price in prices.values():
        if price.id not in seen:
            price.upgrade_path_order = None
    await session.flush()
    return ranked
