"""Packages: products sold together, each at its monthly or annual price and in its quantity (PaymentKit's
``packages``).

A package is sold by billing cycle, so an item's monthly price must recur every month and its annual price every
year, both prices of the item's product; a cycle the package allows needs a price for it on every item, and all the
package's prices share one currency. Those rules hold whenever a package is written, so a package that a checkout
or :func:`package_total` reads always prices whole. A price archived since is refused where it is sold (checkout).
Field-level problems are raised as :class:`InvalidFields` located where the PaymentKit body carries the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from checkstand.catalog import service as catalog
from checkstand.catalog.models import Package, PackageItem, Price, Product
from checkstand.catalog.pricing import amount_for
from checkstand.core import clock
from checkstand.core.errors import BusinessRuleViolation, FieldPath, FieldProblem, InvalidFields, NotFound
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.core.metadata import merge_metadata
from checkstand.core.money import amount_limit, max_amount_atom
from checkstand.core.pagination import Page, paginate
from checkstand.events.service import record_event, snapshot

MONTHLY: Final = "monthly"
ANNUAL: Final = "annual"
# Each billing cycle, with the recurring interval its prices bill at (every one of it).
CYCLE_INTERVALS: Final = {MONTHLY: "month", ANNUAL: "year"}
_SOLD: Final = {MONTHLY: "monthly", ANNUAL: "annually"}
MAX_PACKAGE_ITEMS: Final = 50
# Checkout's largest line quantity: an item's quantity is its line's.
MAX_ITEM_QUANTITY: Final = 999_999

PACKAGE_LIST = ListSpec(
    filterable={
        "name": Package.name,
        "is_active": Package.is_active,
        "allow_monthly": Package.allow_monthly,
        "allow_annual": Package.allow_annual,
        "default_billing_cycle": Package.default_billing_cycle,
    },
    sortable={"created_at": Package.created_at, "updated_at": Package.updated_at, "name": Package.name},
    searchable=(Package.name, Package.description),
    created_at=Package.created_at,
    tiebreak=Package.id,
)


@dataclass(frozen=True)
class ItemSpec:
    """One item as a merchant gives it: the ids are the product's and the prices' own."""

    product_id: str
    monthly_price_id: str | None = None
    annual_price_id: str | None = None
    quantity: int = 1
    description: str | None = None


@dataclass(frozen=True)
class CycleLine:
    """What one item sells in a billing cycle: its price, for its quantity, and what that costs."""

    product_id: str
    price: Price
    quantity: int
    description: str | None
    amount_atom: int


@dataclass(frozen=True)
class PackageTotal:
    billing_cycle: str
    currency: str
    total_amount_atom: int
    lines: list[CycleLine]


def _packages(account_id: str) -> Select[Package]:
    # Items are part of every rendering of a package and never many: always loaded with it.
    return select(Package).where(Package.account_id == account_id).options(selectinload(Package.items))


async def create_package(
    session: AsyncSession,
    account_id: str,
    *,
    name: str,
    items: Sequence[ItemSpec],
    description: str | None = None,
    is_active: bool = True,
    allow_monthly: bool = True,
    allow_annual: bool = False,
    default_billing_cycle: str | None = None,
    metadata: Mapping[str, str | None] | None = None,
) -> Package:
    """A package with at least one item (as the SDK documents), sold in at least one billing cycle. The default
    cycle is what checkout sells when none is asked for: monthly unless only annual billing is allowed."""
    problems = await _item_problems(session, account_id, items)
    default = default_billing_cycle or (MONTHLY if allow_monthly else ANNUAL)
    problems += _cycle_problems(allow_monthly, allow_annual, default, items, items_given=True)
    if problems:
        raise InvalidFields(problems)
    package = Package(
        id=new_id("pkg"),
        account_id=account_id,
        name=name,
        description=description,
        is_active=is_active,
        allow_monthly=allow_monthly,
        allow_annual=allow_annual,
        default_billing_cycle=default,
        package_metadata=merge_metadata({}, metadata),
        items=[],
    )
    _set_items(package, items)
    session.add(package)
    await session.flush()
    await record_event(session, account_id=account_id, type="package.created", obj=package)
    return package


async def get_package(
    session: AsyncSession, account_id: str, package_id: str, *, include_deleted: bool = False
) -> Package:
    """A deleted package is kept for history but answered as unknown unless ``include_deleted``."""
    package = await session.scalar(_packages(account_id).where(Package.id == package_id))
    if package is None or (package.deleted_at is not None and not include_deleted):
        raise NotFound("package", package_id)
    return package


async def _locked_package(session: AsyncSession, account_id: str, package_id: str) -> Package:
    """The live package, its row locked until the transaction ends and re-read with its items: two racing updates
    apply one after the other, each checking the package the other left."""
    package = await one_or_not_found(
        session, locked(_packages(account_id).where(Package.id == package_id)), "package", package_id
    )
    if package.deleted_at is not None:
        raise NotFound("package", package_id)
    return package


async def list_packages(
    session: AsyncSession, account_id: str, params: ListParams, *, include_deleted: bool = False
) -> Page[Package]:
    query = _packages(account_id)
    if not include_deleted:
        query = query.where(Package.deleted_at.is_(None))
    return await paginate(session, apply_list_params(query, PACKAGE_LIST, params), params.page)


async def update_package(
    session: AsyncSession, account_id: str, package_id: str, changes: Mapping[str, Any]
) -> Package:
    """Apply the fields present in ``changes`` (name, description, is_active, allow_monthly, allow_annual,
    default_billing_cycle, metadata, and ``items``, which replace every item). The result is checked whole: allowing
    a cycle needs a price for it on every item, whether the items are sent or kept."""
    package = await _locked_package(session, account_id, package_id)
    before = snapshot(package)
    items_given = "items" in changes
    items: Sequence[ItemSpec] = changes["items"] if items_given else [_spec(item) for item in package.items]
    problems = await _item_problems(session, account_id, items) if items_given else []
    allow_monthly = changes.get("allow_monthly", package.allow_monthly)
    allow_annual = changes.get("allow_annual", package.allow_annual)
    default = changes.get("default_billing_cycle") or package.default_billing_cycle
    if "default_billing_cycle" not in changes and not (allow_monthly and allow_annual):
        # The default only chooses between two allowed cycles: with one left, it is that one.
        default = MONTHLY if allow_monthly else ANNUAL
    problems += _cycle_problems(allow_monthly, allow_annual, default, items, items_given=items_given)
    if problems:
        raise InvalidFields(problems)
    metadata = merge_metadata(package.package_metadata, changes["metadata"]) if "metadata" in changes else None
    for field in ("name", "description", "is_active", "allow_monthly", "allow_annual"):
        if field in changes:
            setattr(package, field, changes[field])
    package.default_billing_cycle = default
    if metadata is not None:
        package.package_metadata = metadata
    if items_given:
        # The old items go in their own flush, so the new ones never sit beside them.
        package.items.clear()
        await session.flush()
        _set_items(package, items)
        package.updated_at = clock.now()
    await session.flush()
    await record_event(session, account_id=account_id, type="package.updated", obj=package, before=before)
    return package


async def delete_package(session: AsyncSession, account_id: str, package_id: str) -> Package:
    """Archive the package: inactive, hidden from lists and checkouts, still readable with ``include_deleted``;
    sessions that sold it keep naming it."""
    package = await _locked_package(session, account_id, package_id)
    before = snapshot(package)
    package.is_active = False
    package.deleted_at = clock.now()
    await session.flush()
    await record_event(session, account_id=account_id, type="package.deleted", obj=package, before=before)
    return package


async def package_total(session: AsyncSession, account_id: str, package_id: str, billing_cycle: str) -> PackageTotal:
    """What the package costs in ``billing_cycle``: each item's price for its quantity
    (:func:`~checkstand.catalog.pricing.amount_for`, exact for any scheme), and their sum. A cycle the package isn't
    sold in is refused at ``billing_cycle``."""
    package = await get_package(session, account_id, package_id)
    try:
        lines = await cycle_lines(session, package, billing_cycle)
    except BusinessRuleViolation as refusal:
        raise InvalidFields.one(("billing_cycle",), refusal.detail, refusal.code) from refusal
    return PackageTotal(
        billing_cycle=billing_cycle,
        currency=lines[0].price.currency,
        total_amount_atom=sum(line.amount_atom for line in lines),
        lines=lines,
    )


async def get_sellable_package(session: AsyncSession, account_id: str, package_id: str) -> Package:
    """The package a checkout may sell now: unknown or deleted is ``NotFound``; inactive is ``package_inactive``."""
    package = await get_package(session, account_id, package_id)
    if not package.is_active:
        raise BusinessRuleViolation(f"Package {package_id!r} is not active.", code="package_inactive")
    return package


async def cycle_lines(session: AsyncSession, package: Package, billing_cycle: str) -> list[CycleLine]:
    """Each item's price for ``billing_cycle`` and quantity, in the package's order; a cycle the package doesn't
    allow is ``billing_cycle_not_allowed``."""
    allowed = _allowed_cycles(package.allow_monthly, package.allow_annual)
    if billing_cycle not in allowed:
        raise BusinessRuleViolation(
            f"Package {package.id!r} is not sold {_SOLD.get(billing_cycle, billing_cycle)}; "
            f"it is sold {' or '.join(_SOLD[cycle] for cycle in allowed)}.",
            code="billing_cycle_not_allowed",
        )
    field = _price_field(billing_cycle)
    price_ids = [getattr(item, field) for item in package.items]
    prices = await catalog.get_prices(session, package.account_id, [price_id for price_id in price_ids if price_id])
    lines = []
    for item, price_id in zip(package.items, price_ids, strict=True):
        # Every item has a price for each allowed cycle: the package's writes refuse anything else.
        price = prices[price_id]
        lines.append(
            CycleLine(item.product_id, price, item.quantity, item.description, amount_for(price, item.quantity))
        )
    return lines


def _allowed_cycles(allow_monthly: bool, allow_annual: bool) -> list[str]:
    return [cycle for cycle, allowed in ((MONTHLY, allow_monthly), (ANNUAL, allow_annual)) if allowed]


def _price_field(billing_cycle: str) -> str:
    return f"{billing_cycle}_price_id"


def _spec(item: PackageItem) -> ItemSpec:
    return ItemSpec(item.product_id, item.monthly_price_id, item.annual_price_id, item.quantity, item.description)


def _set_items(package: Package, items: Sequence[ItemSpec]) -> None:
    package.items.extend(
        PackageItem(
            id=new_id("pkgi"),
            product_id=item.product_id,
            monthly_price_id=item.monthly_price_id,
            annual_price_id=item.annual_price_id,
            position=position,
            quantity=item.quantity,
            description=item.description,
        )
        for position, item in enumerate(items)
    )


async def _item_problems(session: AsyncSession, account_id: str, items: Sequence[ItemSpec]) -> list[FieldProblem]:
    """Each item names a live product of the account once, in a quantity from 1, and prices of that very product
    that are active and recur every month (``monthly_price_id``) or every year (``annual_price_id``); every price of
    the package is in one currency, and no item costs more than a charge may be."""
    if not items:
        return [FieldProblem(("items",), "at least one item is needed", "too_short")]
    if len(items) > MAX_PACKAGE_ITEMS:
        return [FieldProblem(("items",), f"at most {MAX_PACKAGE_ITEMS} items", "too_long")]
    products = {
        product.id: product
        for product in await session.scalars(
            select(Product).where(Product.account_id == account_id, Product.id.in_({i.product_id for i in items}))
        )
    }
    price_ids = {p for item in items for p in (item.monthly_price_id, item.annual_price_id) if p is not None}
    prices = await catalog.get_prices(session, account_id, price_ids)
    problems: list[FieldProblem] = []
    currency: str | None = None
    seen: set[str] = set()
    for index, item in enumerate(items):
        product = products.get(item.product_id)
        if product is None:
            problems.append(FieldProblem(("items", index, "product_id"), "no such product", "not_found"))
        elif product.deleted_at is not None:
            problems.append(FieldProblem(("items", index, "product_id"), "the product is deleted"))
        elif item.product_id in seen:
            problems.append(FieldProblem(("items", index, "product_id"), "is listed twice; give one item a quantity"))
        seen.add(item.product_id)
        if not 1 <= item.quantity <= MAX_ITEM_QUANTITY:
            kind = "greater_than_equal" if item.quantity < 1 else "less_than_equal"
            problems.append(FieldProblem(("items", index, "quantity"), f"must be from 1 to {MAX_ITEM_QUANTITY}", kind))
        for cycle, interval in CYCLE_INTERVALS.items():
            field = _price_field(cycle)
            price_id = getattr(item, field)
            if price_id is None:
                continue
            path: FieldPath = ("items", index, field)
            price = prices.get(price_id)
            if price is None:
                problems.append(FieldProblem(path, f"no price {price_id!r} in this account", "not_found"))
                continue
            if problem := _price_problem(price, item.product_id, interval, currency):
                problems.append(FieldProblem(path, *problem))
                continue
            currency = currency or price.currency
            if 1 <= item.quantity <= MAX_ITEM_QUANTITY and amount_for(price, item.quantity) > max_amount_atom(
                price.currency
            ):
                message = f"the item's amount for its quantity must be {amount_limit(price.currency)}"
                problems.append(FieldProblem(("items", index, "quantity"), message, "amount_too_large"))
    return problems


def _price_problem(price: Price, product_id: str, interval: str, currency: str | None) -> tuple[str, str] | None:
    """What makes ``price`` unfit for an item of ``product_id`` billed every ``interval``, with its machine type."""
    if price.product_id != product_id:
        return f"price {price.id!r} is a price of product {price.product_id!r}, not of this item's", "price_mismatch"
    if not price.is_active:
        return f"price {price.id!r} is archived", "price_inactive"
    if price.recurring_interval != interval or price.recurring_interval_count != 1:
        return f"must be a price that recurs every {interval}", "interval_mismatch"
    if currency is not None and price.currency != currency:
        return (
            f"price is in {price.currency.upper()}, the package in {currency.upper()}: a package has one currency",
            "currency_mismatch",
        )
    return None


def _cycle_problems(
    allow_monthly: bool, allow_annual: bool, default: str, items: Sequence[ItemSpec], *, items_given: bool
) -> list[FieldProblem]:
    """At least one cycle, the default among those allowed, and a price for every allowed cycle on every item:
    located at the item's price when the items are sent, else at the flag that asks for it."""
    allowed = _allowed_cycles(allow_monthly, allow_annual)
    if not allowed:
        return [FieldProblem(("allow_monthly",), "a package is sold monthly, annually or both", "no_billing_cycle")]
    problems = []
    if default not in allowed:
        problems.append(
            FieldProblem(("default_billing_cycle",), f"must be a cycle the package allows: {', '.join(allowed)}")
        )
    for cycle in allowed:
        field = _price_field(cycle)
        missing = [index for index, item in enumerate(items) if getattr(item, field) is None]
        if items_given:
            problems += [
                FieldProblem(("items", index, field), f"needed: the package is sold {_SOLD[cycle]}", "missing")
                for index in missing
            ]
        elif missing:
            numbers = ", ".join(str(index) for index in missing)
            problems.append(
                FieldProblem((f"allow_{cycle}",), f"every item needs a {field} first (items {numbers} have none)")
            )
    return problems
