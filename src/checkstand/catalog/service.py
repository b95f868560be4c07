"""The catalog's rules: products, their prices, and product families (the tiers of a product line).

Checkout calls :func:`get_sellable_price`; subscriptions call :func:`compare_tiers`. Field-level problems are raised
as :class:`InvalidFields` located where the PaymentKit body carries the field.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Select, String, cast, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager, joinedload

from checkstand.catalog import external_ids
from checkstand.catalog.models import (
    LICENSED,
    METERED,
    USAGE_AGGREGATIONS,
    FamilyMember,
    Price,
    Product,
    ProductFamily,
)
from checkstand.catalog.pricing import GRADUATED, PER_UNIT, TIERED, VOLUME, tier_problems
from checkstand.core import clock
from checkstand.core.errors import BusinessRuleViolation, Conflict, FieldPath, FieldProblem, InvalidFields, NotFound
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.core.metadata import merge_metadata
from checkstand.core.money import MAX_AMOUNT_ATOM, amount_limit, is_currency, max_amount_atom
from checkstand.core.pagination import Page, paginate
from checkstand.custom_fields.service import JsonColumnStore, apply_custom_fields, register_value_store
from checkstand.events.service import record_event, snapshot

# A unit amount has at most 8 digits of its currency's major unit (core.money); this bound is that of any currency.
MAX_UNIT_AMOUNT: Final = MAX_AMOUNT_ATOM
MAX_TRIAL_DAYS: Final = 730
# A billing period of at most three years, as Stripe allows.
MAX_INTERVAL_COUNT: Final = {"day": 1095, "week": 156, "month": 36, "year": 3}
RECURRING: Final = "recurring"
ONE_TIME: Final = "one_time"
MAX_FAMILY_SIZE: Final = 100
# Package pricing's largest package: a million units.
MAX_QUANTITY_DIVISOR: Final = 1_000_000
# A contract term of at most 36 billing periods (three years of monthly billing).
MAX_CONTRACT_TERM_MULTIPLE: Final = 36

register_value_store("product", JsonColumnStore(Product.custom_fields, Product.account_id))
register_value_store("price", JsonColumnStore(Price.custom_fields, Price.account_id))

PRODUCT_LIST = ListSpec(
    filterable={"name": Product.name, "is_active": Product.is_active, "default_price_id": Product.default_price_id},
    sortable={"created_at": Product.created_at, "updated_at": Product.updated_at, "name": Product.name},
    searchable=(Product.name, Product.description),
    created_at=Product.created_at,
    tiebreak=Product.id,
)

PRICE_LIST = ListSpec(
    filterable={
        "product_id": Price.product_id,
        "currency": Price.currency,
        "is_active": Price.is_active,
        "pricing_type": Price.pricing_type,
        "recurring_interval": Price.recurring_interval,
    },
    sortable={
        "created_at": Price.created_at,
        "updated_at": Price.updated_at,
        "unit_amount_atom": Price.unit_amount_atom,
        "name": Price.name,
    },
    # A price is mostly known by its product's name; the list joins the product for this.
    searchable=(Price.name, Product.name),
    created_at=Price.created_at,
    tiebreak=Price.id,
)

FAMILY_LIST = ListSpec(
    filterable={"name": ProductFamily.name},
    sortable={
        "created_at": ProductFamily.created_at,
        "updated_at": ProductFamily.updated_at,
        "name": ProductFamily.name,
    },
    searchable=(ProductFamily.name, ProductFamily.description),
    created_at=ProductFamily.created_at,
    tiebreak=ProductFamily.id,
)


# Products


async def create_product(
    session: AsyncSession,
    account_id: str,
    *,
    name: str,
    description: str | None = None,
    is_active: bool = True,
    default_price_id: str | None = None,
    metadata: Mapping[str, str | None] | None = None,
    custom_fields: Mapping[str, Any] | None = None,
    external_id: str | None = None,
    product_code: str | None = None,
) -> Product:
    """``external_id`` (the merchant's own id for it) must be free in the account."""
    product = Product(
        id=new_id("prod"),
        account_id=account_id,
        name=name,
        description=description,
        is_active=is_active,
        product_metadata=merge_metadata({}, metadata),
        custom_fields=await apply_custom_fields(session, account_id, "product", {}, custom_fields),
        external_id=external_id,
        product_code=product_code,
    )
    if default_price_id is not None:
        # A new product has no price yet: this always refuses, with the same words as on an update.
        await _check_default_price(session, product, default_price_id)
    if external_id is not None:
        await external_ids.ensure_free(session, Product, account_id, external_id, "product")
    await external_ids.save(session, product, "product")
    await record_event(session, account_id=account_id, type="product.created", obj=product)
    return product


async def get_product(
    session: AsyncSession, account_id: str, product_id: str, *, include_deleted: bool = False
) -> Product:
    """A deleted product is kept for history but answered as unknown unless ``include_deleted``."""
    product = await session.scalar(select(Product).where(Product.id == product_id, Product.account_id == account_id))
    if product is None or (product.deleted_at is not None and not include_deleted):
        raise NotFound("product", product_id)
    return product


async def _locked_product(session: AsyncSession, account_id: str, product_id: str) -> Product | None:
    """The product, read afresh and locked until the transaction ends. Every write that checks a product against
    its prices takes this lock first, so two racing requests can't each pass a check the other undoes: an archived
    price left as the default, or an active price on a deleted product. (On SQLite writers run one at a time.)"""
    return await session.scalar(
        locked(select(Product).where(Product.id == product_id, Product.account_id == account_id))
    )


async def list_products(
    session: AsyncSession, account_id: str, params: ListParams, *, include_deleted: bool = False
) -> Page[Product]:
    query = select(Product).where(Product.account_id == account_id)
    if not include_deleted:
        query = query.where(Product.deleted_at.is_(None))
    return await paginate(session, apply_list_params(query, PRODUCT_LIST, params), params.page)


async def get_products(session: AsyncSession, account_id: str, product_ids: Collection[str]) -> dict[str, Product]:
    """The account's products among ``product_ids``, by id, deleted ones included (a family's page names its tiers);
    an unknown id is left out."""
    found = await session.scalars(
        select(Product).where(Product.account_id == account_id, Product.id.in_(list(product_ids)))
    )
    return {product.id: product for product in found}


async def count_prices(session: AsyncSession, account_id: str, product_ids: Collection[str]) -> dict[str, int]:
    """How many prices (active or archived) each product has; 0 for one without."""
    rows = await session.execute(
        select(Price.product_id, func.count())
        .where(Price.account_id == account_id, Price.product_id.in_(list(product_ids)))
        .group_by(Price.product_id)
    )
    counts = {product_id: int(count) for product_id, count in rows}
    return {product_id: counts.get(product_id, 0) for product_id in product_ids}


async def update_product(
    session: AsyncSession, account_id: str, product_id: str, changes: Mapping[str, Any]
) -> Product:
    """Apply the fields present in ``changes`` (name, description, is_active, default_price_id, metadata,
    custom_fields, external_id, product_code). A deleted product is history and can't change."""
    product = await _locked_product(session, account_id, product_id)
    if product is None:
        raise NotFound("product", product_id)
    if product.deleted_at is not None:
        raise Conflict(f"Product {product_id!r} is deleted and can't be changed.", code="product_deleted")
    before = snapshot(product)
    if "default_price_id" in changes and changes["default_price_id"] is not None:
        await _check_default_price(session, product, changes["default_price_id"])
    if changes.get("external_id") not in (None, product.external_id):
        await external_ids.ensure_free(session, Product, account_id, changes["external_id"], "product")
    metadata = merge_metadata(product.product_metadata, changes["metadata"]) if "metadata" in changes else None
    custom_fields = await apply_custom_fields(
        session, account_id, "product", product.custom_fields, changes.get("custom_fields")
    )
    for field in ("name", "description", "is_active", "default_price_id", "external_id", "product_code"):
        if field in changes:
            setattr(product, field, changes[field])
    if metadata is not None:
        product.product_metadata = metadata
    product.custom_fields = custom_fields
    await external_ids.save(session, product, "product")
    await record_event(session, account_id=account_id, type="product.updated", obj=product, before=before)
    return product


async def _check_default_price(session: AsyncSession, product: Product, price_id: str) -> None:
    price = await session.scalar(
        select(Price).where(
            Price.id == price_id,
            Price.account_id == product.account_id,
            Price.product_id == product.id,
            Price.is_active.is_(True),
        )
    )
    if price is None:
        raise InvalidFields.one(("default_price_id",), "must be an active price of this product")


async def delete_product(session: AsyncSession, account_id: str, product_id: str) -> Product:
    """Archive the product: inactive, hidden from lists, kept for what already refers to it. As the SDK documents,
    only a product without active prices can go, so nothing sellable is left pointing at it."""
    product = await _locked_product(session, account_id, product_id)
    if product is None or product.deleted_at is not None:
        raise NotFound("product", product_id)
    active = await session.scalar(
        select(func.count()).where(
            Price.account_id == account_id, Price.product_id == product.id, Price.is_active.is_(True)
        )
    )
    if active:
        raise Conflict(
            f"Product {product_id!r} still has {active} active price(s); archive them first.",
            code="product_has_active_prices",
        )
    before = snapshot(product)
    product.is_active = False
    product.deleted_at = clock.now()
    await session.flush()
    await record_event(session, account_id=account_id, type="product.archived", obj=product, before=before)
    return product


# Prices


async def create_price(
    session: AsyncSession,
    account_id: str,
    *,
    product_id: str,
    currency: str,
    unit_amount_atom: int | None,
    pricing_type: str | None = None,
    recurring_interval: str | None = None,
    recurring_interval_count: int | None = None,
    trial_days: int | None = None,
    name: str | None = None,
    is_active: bool = True,
    unit_label: str | None = None,
    metadata: Mapping[str, str | None] | None = None,
    custom_fields: Mapping[str, Any] | None = None,
    prerequisite_price_ids: Sequence[str] = (),
    exclusive_customer_ids: Sequence[str] = (),
    billing_scheme: str = PER_UNIT,
    tiers_mode: str | None = None,
    tiers: Sequence[Mapping[str, Any]] | None = None,
    quantity_divisor: int | None = None,
    usage_type: str = LICENSED,
    metered_id: str | None = None,
    usage_aggregation: str | None = None,
    contract_term_multiple: int | None = None,
    auto_renew: bool = True,
) -> Price:
    """A price of one of the account's live products. ``pricing_type`` defaults from whether an interval is given;
    a recurring price bills every ``recurring_interval_count`` intervals (1 unless said).

    With ``prerequisite_price_ids`` it is an add-on, which checkout sells only beside one of those prices of the
    account; with ``exclusive_customer_ids`` only those customers may buy it. The catalog can't see customers (the
    layers keep them apart), so the caller checks those ids belong to the account.

    A tiered price is priced by its ``tiers`` as ``tiers_mode`` says (:func:`checkstand.catalog.pricing.amount_for`)
    and has no unit amount of its own (0); ``quantity_divisor`` bills per that many units, a started package whole.

    A metered price (``usage_type`` metered) recurs and bills, in arrears, the usage reported for its ``metered_id``
    over each period, aggregated as ``usage_aggregation`` says (sum unless given), by any of those schemes.

    A recurring price with ``contract_term_multiple`` commits its subscribers for that many billing periods (a
    term), renewing term after term unless ``auto_renew`` is false (:mod:`checkstand.subscriptions.contracts`)."""
    problems: list[FieldProblem] = []
    problems += _scheme_problems(currency, billing_scheme, tiers_mode, tiers, unit_amount_atom, quantity_divisor)
    unit_amount_atom = unit_amount_atom or 0
    problems += await _prerequisite_problems(session, account_id, prerequisite_price_ids)
    product = await _locked_product(session, account_id, product_id)
    if product is None:
        problems.append(FieldProblem(("product_id",), "no such product"))
    elif product.deleted_at is not None:
        problems.append(FieldProblem(("product_id",), "the product is deleted"))
    if not is_currency(currency):
        problems.append(FieldProblem(("currency",), "must be an ISO 4217 currency code, e.g. usd"))
    if not is_currency(currency):
        if not 0 <= unit_amount_atom <= MAX_UNIT_AMOUNT:
            problems.append(FieldProblem(("unit_amount_atom",), f"must be from 0 to {MAX_UNIT_AMOUNT}"))
    elif not 0 <= unit_amount_atom <= max_amount_atom(currency):
        problems.append(FieldProblem(("unit_amount_atom",), f"must be from 0, {amount_limit(currency)}"))
    pricing_type = pricing_type or (RECURRING if recurring_interval is not None else ONE_TIME)
    if pricing_type == RECURRING:
        recurring_interval_count = 1 if recurring_interval_count is None else recurring_interval_count
        problems.extend(_recurrence_problems(recurring_interval, recurring_interval_count))
    else:
        problems.extend(
            FieldProblem((field,), "only a recurring price has one")
            for field, value in (
                ("recurring_interval", recurring_interval),
                ("recurring_interval_count", recurring_interval_count),
                ("trial_days", trial_days or None),
            )
            if value is not None
        )
    problems += _usage_problems(usage_type, metered_id, usage_aggregation, pricing_type)
    if trial_days is not None and not 0 <= trial_days <= MAX_TRIAL_DAYS:
        problems.append(FieldProblem(("trial_days",), f"must be from 0 to {MAX_TRIAL_DAYS}"))
    problems += _contract_problems(pricing_type, contract_term_multiple, auto_renew)
    if problems:
        raise InvalidFields(problems)
    assert product is not None  # a missing product was reported above
    price = Price(
        id=new_id("price"),
        account_id=account_id,
        product_id=product.id,
        name=name,
        unit_amount_atom=unit_amount_atom,
        currency=currency.lower(),
        is_active=is_active,
        unit_label=unit_label,
        pricing_type=pricing_type,
        recurring_interval=recurring_interval,
        recurring_interval_count=recurring_interval_count,
        trial_days=trial_days or 0,
        prerequisite_price_ids=list(dict.fromkeys(prerequisite_price_ids)),
        exclusive_customer_ids=list(dict.fromkeys(exclusive_customer_ids)),
        billing_scheme=billing_scheme,
        tiers_mode=tiers_mode if billing_scheme == TIERED else None,
        tiers=[dict(tier) for tier in tiers] if billing_scheme == TIERED and tiers is not None else None,
        quantity_divisor=quantity_divisor if quantity_divisor is not None and quantity_divisor > 1 else None,
        usage_type=usage_type,
        metered_id=metered_id if usage_type == METERED else None,
        usage_aggregation=usage_aggregation or USAGE_AGGREGATIONS[0],
        contract_term_multiple=contract_term_multiple if pricing_type == RECURRING else None,
        auto_renew=auto_renew,
        price_metadata=merge_metadata({}, metadata),
        custom_fields=await apply_custom_fields(session, account_id, "price", {}, custom_fields),
    )
    price.product = product
    session.add(price)
    await session.flush()
    await record_event(session, account_id=account_id, type="price.created", obj=price)
    return price


def _contract_problems(pricing_type: str, multiple: int | None, auto_renew: bool) -> list[FieldProblem]:
    """A contract term (``multiple`` billing periods, renewing at its end unless ``auto_renew`` is false) is a
    recurring price's; a one-time price takes neither (a term of 1 says nothing and passes)."""
    if pricing_type != RECURRING:
        refused = {"contract_term_multiple": multiple not in (None, 1), "auto_renew": not auto_renew}
        return [
            FieldProblem((field,), "only a recurring price has a contract term")
            for field, is_refused in refused.items()
            if is_refused
        ]
    if multiple is not None and not 1 <= multiple <= MAX_CONTRACT_TERM_MULTIPLE:
        return [
            FieldProblem(("contract_term_multiple",), f"must be from 1 to {MAX_CONTRACT_TERM_MULTIPLE} billing periods")
        ]
    return []


async def _prerequisite_problems(
    session: AsyncSession, account_id: str, price_ids: Sequence[str]
) -> list[FieldProblem]:
    found = set(await session.scalars(select(Price.id).where(Price.account_id == account_id, Price.id.in_(price_ids))))
    return [
        FieldProblem(("prerequisite_price_ids", index), f"no price {price_id!r} in this account", "not_found")
        for index, price_id in enumerate(price_ids)
        if price_id not in found
    ]


def _scheme_problems(
    currency: str,
    scheme: str,
    mode: str | None,
    tiers: Sequence[Mapping[str, Any]] | None,
    unit_amount_atom: int | None,
    divisor: int | None,
) -> list[FieldProblem]:
    """A tiered price needs a mode and valid tiers and no unit amount (its tiers carry the amounts); a per-unit
    price has neither. A divisor counts units per package: from 1 to ``MAX_QUANTITY_DIVISOR``."""
    problems: list[FieldProblem] = []
    if divisor is not None and not 1 <= divisor <= MAX_QUANTITY_DIVISOR:
        problems.append(FieldProblem(("quantity_divisor",), f"must be from 1 to {MAX_QUANTITY_DIVISOR}"))
    if scheme != TIERED:
        if scheme != PER_UNIT:
            problems.append(FieldProblem(("billing_scheme",), "must be per_unit or tiered"))
        if unit_amount_atom is None:
            problems.append(FieldProblem(("unit_amount_atom",), "a per-unit price needs one", "missing"))
        if mode is not None or tiers is not None:
            problems.append(FieldProblem(("tiers",), "only a tiered price has tiers (billing_scheme tiered)"))
        return problems
    if mode not in (GRADUATED, VOLUME):
        problems.append(FieldProblem(("tiers_mode",), "a tiered price needs a mode: graduated or volume"))
    if unit_amount_atom:
        problems.append(FieldProblem(("unit_amount_atom",), "a tiered price's amounts are its tiers'; leave it out"))
    limit = max_amount_atom(currency) if is_currency(currency) else MAX_UNIT_AMOUNT
    problems.extend(FieldProblem(("tiers", *path), msg) for path, msg in tier_problems(tiers or (), limit))
    return problems


def _usage_problems(
    usage_type: str, metered_id: str | None, aggregation: str | None, pricing_type: str
) -> list[FieldProblem]:
    """A metered price names the meter its usage is reported on and recurs (usage is billed per period); only a
    metered price has a meter or an aggregation."""
    if usage_type not in (LICENSED, METERED):
        return [FieldProblem(("usage_type",), "must be licensed or metered")]
    if usage_type == LICENSED:
        return [
            FieldProblem((field,), "only a metered price has one (usage_type metered)")
            for field, value in (("metered_id", metered_id), ("usage_aggregation", aggregation))
            if value is not None
        ]
    problems: list[FieldProblem] = []
    if not metered_id:
        problems.append(FieldProblem(("metered_id",), "a metered price needs the meter its usage is reported on"))
    if aggregation is not None and aggregation not in USAGE_AGGREGATIONS:
        problems.append(FieldProblem(("usage_aggregation",), f"must be one of {', '.join(USAGE_AGGREGATIONS)}"))
    if pricing_type != RECURRING:
        problems.append(
            FieldProblem(("usage_type",), "a metered price bills each period's usage: give it a recurring_interval")
        )
    return problems


def _recurrence_problems(interval: str | None, count: int) -> list[FieldProblem]:
    if interval is None:
        return [FieldProblem(("recurring_interval",), "a recurring price needs one: day, week, month or year")]
    if interval not in MAX_INTERVAL_COUNT:
        return [FieldProblem(("recurring_interval",), "must be day, week, month or year")]
    limit = MAX_INTERVAL_COUNT[interval]
    if not 1 <= count <= limit:
        return [
            FieldProblem(("recurring_interval_count",), f"must be from 1 to {limit} for a {interval}ly price (3 years)")
        ]
    return []


def _prices(account_id: str) -> Select[Price]:
    # Many-to-one: a join costs nothing, where a second SELECT per price would double the round trips.
    return select(Price).where(Price.account_id == account_id).options(joinedload(Price.product))


async def get_price(session: AsyncSession, account_id: str, price_id: str) -> Price:
    """The price with its product loaded. Prices are never deleted, so an archived one is found too."""
    return await one_or_not_found(session, _prices(account_id).where(Price.id == price_id), "price", price_id)


async def get_prices(session: AsyncSession, account_id: str, price_ids: Collection[str]) -> dict[str, Price]:
    """The account's prices among ``price_ids``, by id, each with its product loaded; an unknown id is left out."""
    found = await session.scalars(_prices(account_id).where(Price.id.in_(list(price_ids))))
    return {price.id: price for price in found}


async def list_prices(session: AsyncSession, account_id: str, params: ListParams) -> Page[Price]:
    """All the account's prices, each with its product loaded."""
    query = _prices(account_id).join(Product, Price.product_id == Product.id)
    return await paginate(session, apply_list_params(query, PRICE_LIST, params), params.page)


async def list_add_on_prices(session: AsyncSession, account_id: str, price_id: str, params: ListParams) -> Page[Price]:
    """The add-ons sold beside ``price_id``: the prices naming it among their prerequisites."""
    base = await get_price(session, account_id, price_id)
    # The ids are a JSON array on both backends; its text holds each id quoted, and ids never contain a quote.
    quoted = json.dumps(base.id).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    names_base = cast(Price.prerequisite_price_ids, String).like(f"%{quoted}%", escape="\\")
    query = _prices(account_id).join(Product, Price.product_id == Product.id).where(names_base)
    return await paginate(session, apply_list_params(query, PRICE_LIST, params), params.page)


async def list_product_prices(
    session: AsyncSession, account_id: str, product_id: str, params: ListParams
) -> Page[Price]:
    """The prices of one product, deleted products included: their prices are still what past customers paid."""
    product = await get_product(session, account_id, product_id, include_deleted=True)
    query = _prices(account_id).join(Product, Price.product_id == Product.id).where(Price.product_id == product.id)
    return await paginate(session, apply_list_params(query, PRICE_LIST, params), params.page)


async def update_price(session: AsyncSession, account_id: str, price_id: str, changes: Mapping[str, Any]) -> Price:
    """Only what doesn't change what a customer pays: ``is_active``, ``name``, ``metadata``, ``custom_fields``.
    The default price of its product can't be archived (Stripe's rule), so a product never offers an inactive
    price as its default."""
    price = await get_price(session, account_id, price_id)
    await _locked_product(session, account_id, price.product_id)
    before = snapshot(price)
    if changes.get("is_active") is False and price.is_active and price.product.default_price_id == price.id:
        raise Conflict(
            f"Price {price_id!r} is the default price of product {price.product_id!r}; "
            "give the product another default price first.",
            code="price_is_default",
        )
    metadata = merge_metadata(price.price_metadata, changes["metadata"]) if "metadata" in changes else None
    custom_fields = await apply_custom_fields(
        session, account_id, "price", price.custom_fields, changes.get("custom_fields")
    )
    for field in ("is_active", "name"):
        if field in changes:
            setattr(price, field, changes[field])
    if metadata is not None:
        price.price_metadata = metadata
    price.custom_fields = custom_fields
    await session.flush()
    await record_event(session, account_id=account_id, type="price.updated", obj=price, before=before)
    return price


async def get_sellable_price(session: AsyncSession, account_id: str, price_id: str) -> Price:
    """The price a checkout may charge now, with its product loaded: unknown is ``NotFound``; archived, or of an
    inactive or deleted product, is ``price_inactive``."""
    price = await get_price(session, account_id, price_id)
    ensure_sellable(price)
    return price


def ensure_sellable(price: Price) -> None:
    """``price_inactive`` for a loaded price (its product loaded too) that is archived, or of an inactive or
    deleted product: for a caller that loaded many prices at once (:func:`get_prices`)."""
    product = price.product
    if not price.is_active or not product.is_active or product.deleted_at is not None:
        raise BusinessRuleViolation(
            f"Price {price.id!r} can't be sold: it or its product {product.id!r} is archived.", code="price_inactive"
        )


# Product families


async def create_family(
    session: AsyncSession,
    account_id: str,
    *,
    name: str,
    description: str | None = None,
    hierarchy: Sequence[tuple[str, int]] | None = None,
) -> ProductFamily:
    """A family with its initial tiers: ``(product_id, rank)`` pairs, a higher rank being a higher tier."""
    family = ProductFamily(id=new_id("pfam"), account_id=account_id, name=name, description=description, members=[])
    await _check_tiers(session, family, hierarchy or [], path=("hierarchy",))
    session.add(family)
    await session.flush()
    await _add_members(session, family, hierarchy or [])
    await record_event(session, account_id=account_id, type="product_family.created", obj=family)
    return family


async def get_family(
    session: AsyncSession, account_id: str, family_id: str, *, include_deleted: bool = False
) -> ProductFamily:
    family = await session.scalar(
        select(ProductFamily).where(ProductFamily.id == family_id, ProductFamily.account_id == account_id)
    )
    if family is None or (family.deleted_at is not None and not include_deleted):
        raise NotFound("product_family", family_id)
    return family


async def family_of(session: AsyncSession, account_id: str, product_id: str) -> ProductFamily | None:
    """The live family the product is a tier of, if any (a product is in at most one)."""
    family: ProductFamily | None = await session.scalar(
        select(ProductFamily)
        .join(FamilyMember, FamilyMember.family_id == ProductFamily.id)
        .where(
            FamilyMember.account_id == account_id,
            FamilyMember.product_id == product_id,
            ProductFamily.deleted_at.is_(None),
        )
    )
    return family


async def list_families(
    session: AsyncSession, account_id: str, params: ListParams, *, include_deleted: bool = False
) -> Page[ProductFamily]:
    query = select(ProductFamily).where(ProductFamily.account_id == account_id)
    if not include_deleted:
        query = query.where(ProductFamily.deleted_at.is_(None))
    return await paginate(session, apply_list_params(query, FAMILY_LIST, params), params.page)


async def update_family(
    session: AsyncSession, account_id: str, family_id: str, changes: Mapping[str, Any]
) -> ProductFamily:
    """``name`` and ``description``; the tiers change through their own calls."""
    family = await get_family(session, account_id, family_id)
    before = snapshot(family)
    for field in ("name", "description"):
        if field in changes:
            setattr(family, field, changes[field])
    await session.flush()
    await record_event(session, account_id=account_id, type="product_family.updated", obj=family, before=before)
    return family


async def replace_hierarchy(
    session: AsyncSession, account_id: str, family_id: str, hierarchy: Sequence[tuple[str, int]]
) -> ProductFamily:
    """Replace every tier at once (re-ranking included); products left out leave the family."""
    family = await get_family(session, account_id, family_id)
    before = snapshot(family)
    await _check_tiers(session, family, hierarchy, path=("hierarchy",))
    # Old rows go first, in their own flush: re-ranked tiers would otherwise collide on the unique rank.
    family.members.clear()
    family.updated_at = clock.now()
    await session.flush()
    await _add_members(session, family, hierarchy)
    await record_event(session, account_id=account_id, type="product_family.updated", obj=family, before=before)
    return family


async def add_to_family(
    session: AsyncSession, account_id: str, family_id: str, product_id: str, rank: int
) -> ProductFamily:
    family = await get_family(session, account_id, family_id)
    before = snapshot(family)
    current = [(member.product_id, member.rank) for member in family.members]
    await _check_tiers(session, family, [*current, (product_id, rank)], path=(), adding=True)
    family.updated_at = clock.now()
    await _add_members(session, family, [(product_id, rank)])
    await record_event(session, account_id=account_id, type="product_family.updated", obj=family, before=before)
    return family


async def remove_from_family(session: AsyncSession, account_id: str, family_id: str, product_id: str) -> ProductFamily:
    family = await get_family(session, account_id, family_id)
    before = snapshot(family)
    member = next((m for m in family.members if m.product_id == product_id), None)
    if member is None:
        raise NotFound("family_member", product_id)
    family.members.remove(member)
    family.updated_at = clock.now()
    await session.flush()
    await record_event(session, account_id=account_id, type="product_family.updated", obj=family, before=before)
    return family


async def delete_family(session: AsyncSession, account_id: str, family_id: str) -> ProductFamily:
    """Soft delete. Its products are set free to join another family; the event keeps the last hierarchy."""
    family = await get_family(session, account_id, family_id)
    family.deleted_at = clock.now()
    await session.flush()
    await record_event(session, account_id=account_id, type="product_family.deleted", obj=family)
    family.members.clear()
    await session.flush()
    return family


async def compare_tiers(
    session: AsyncSession, account_id: str, family_id: str, from_product_id: str, to_product_id: str
) -> int:
    """Moving from one product of the family to another: 1 is an upgrade, -1 a downgrade, 0 the same tier."""
    family = await get_family(session, account_id, family_id)
    ranks = {member.product_id: member.rank for member in family.members}
    for product_id in (from_product_id, to_product_id):
        if product_id not in ranks:
            raise BusinessRuleViolation(
                f"Product {product_id!r} is not in product family {family_id!r}.", code="product_not_in_family"
            )
    source, target = ranks[from_product_id], ranks[to_product_id]
    return (target > source) - (target < source)


async def family_plan_prices(
    session: AsyncSession,
    account_id: str,
    product_id: str,
    *,
    currency: str,
    recurring_interval: str | None,
    recurring_interval_count: int | None,
) -> list[tuple[int, Price]]:
    """The sellable prices of every tier of the product's family (the product's own included) that bill like the
    given terms: the plans a customer may choose between. ``(rank, price)`` pairs, lowest tier first, oldest price
    first within a tier; none when the product is in no live family."""
    family_id = await session.scalar(
        select(FamilyMember.family_id)
        .join(ProductFamily, ProductFamily.id == FamilyMember.family_id)
        .where(
            FamilyMember.account_id == account_id,
            FamilyMember.product_id == product_id,
            ProductFamily.deleted_at.is_(None),
        )
    )
    if family_id is None:
        return []
    rows = await session.execute(
        select(FamilyMember.rank, Price)
        .join(Product, Product.id == FamilyMember.product_id)
        .join(Price, Price.product_id == Product.id)
        .options(contains_eager(Price.product))
        .where(
            FamilyMember.family_id == family_id,
            Price.account_id == account_id,
            Price.is_active.is_(True),
            Product.is_active.is_(True),
            Product.deleted_at.is_(None),
            Price.currency == currency,
            Price.recurring_interval.is_not_distinct_from(recurring_interval),
            Price.recurring_interval_count.is_not_distinct_from(recurring_interval_count),
        )
        .order_by(FamilyMember.rank, Price.created_at, Price.id)
    )
    return [(rank, price) for rank, price in rows]


async def _check_tiers(
    session: AsyncSession,
    family: ProductFamily,
    tiers: Sequence[tuple[str, int]],
    *,
    path: FieldPath,
    adding: bool = False,
) -> None:
    """Refuse tiers that repeat a product or a rank, name a product that isn't the account's live one, or take a
    product from another family. With ``adding``, only the last entry is new and its errors are located at
    ``path + (field,)``; otherwise every entry is, at ``path + (index, field)``."""
    added = len(tiers) - 1 if adding else 0

    def at(index: int, field: str) -> FieldPath:
        return (*path, field) if adding else (*path, index, field)

    problems: list[FieldProblem] = []
    if len(tiers) > MAX_FAMILY_SIZE:
        raise InvalidFields.one((*path, "product_id") if adding else path, f"at most {MAX_FAMILY_SIZE} products")
    seen_products: dict[str, int] = {}
    seen_ranks: dict[int, str] = {}
    for index, (product_id, rank) in enumerate(tiers):
        if product_id in seen_products:
            message = "is already in this family" if adding else "is listed twice"
            problems.append(FieldProblem(at(index, "product_id"), message))
        elif rank in seen_ranks:
            problems.append(FieldProblem(at(index, "rank"), f"rank {rank} is already taken by {seen_ranks[rank]}"))
        seen_products.setdefault(product_id, index)
        seen_ranks.setdefault(rank, product_id)
    new_ids = [product_id for product_id, _ in tiers[added:]]
    products = {
        product.id: product
        for product in await session.scalars(
            select(Product).where(Product.account_id == family.account_id, Product.id.in_(new_ids))
        )
    }
    homes = {
        product_id: family_id
        for product_id, family_id in await session.execute(
            select(FamilyMember.product_id, FamilyMember.family_id).where(
                FamilyMember.account_id == family.account_id, FamilyMember.product_id.in_(new_ids)
            )
        )
    }
    for index, (product_id, _) in enumerate(tiers[added:], start=added):
        product = products.get(product_id)
        if product is None:
            problems.append(FieldProblem(at(index, "product_id"), "no such product"))
        elif product.deleted_at is not None:
            problems.append(FieldProblem(at(index, "product_id"), "the product is deleted"))
        elif homes.get(product_id, family.id) != family.id:
            problems.append(FieldProblem(at(index, "product_id"), f"is already in product family {homes[product_id]}"))
    if problems:
        raise InvalidFields(problems)


async def _add_members(session: AsyncSession, family: ProductFamily, tiers: Sequence[tuple[str, int]]) -> None:
    """Insert in a savepoint: a concurrent request that placed the same product or rank first makes the database
    refuse, and that is a conflict for this request, not a broken transaction."""
    try:
        async with session.begin_nested():
            family.members.extend(
                FamilyMember(product_id=product_id, family_id=family.id, account_id=family.account_id, rank=rank)
                for product_id, rank in tiers
            )
    except IntegrityError:
        raise Conflict(
            "Another request changed these products' families at the same time; read the family and retry.",
            code="product_family_conflict",
        ) from None
