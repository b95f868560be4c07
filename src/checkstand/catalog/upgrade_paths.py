"""Upgrade paths: the plan changes an account allows, and the rule that classifies a change.

A path names each end by a product or by one of its prices (a price end also records its product, so the paths
leaving a product are found by one index). Checkout and the subscriptions API call :func:`classify_transition`
before any charge: while an account has any active path, only what they declare is allowed (a path from a price
wins over one from its product; one to a price over one to its product); with none, a product family's ranks
decide, then, between two prices of one product, their places on the product's upgrade path (Paid's plan order:
``Price.upgrade_path_order``, compared only between prices billed as often) or else their amounts per day, and any
other change between recurring prices of one currency is a crossgrade.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog.models import RECURRING, FamilyMember, Price, Product, ProductFamily, UpgradePath
from checkstand.catalog.pricing import amount_for
from checkstand.core import clock
from checkstand.core.errors import BusinessRuleViolation, Conflict, FieldProblem, InvalidFields, NotFound
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import locked
from checkstand.core.pagination import Page, paginate
from checkstand.events.service import record_event, snapshot

TRANSITION_TYPES: Final = ("upgrade", "downgrade", "crossgrade")
# PaymentKit's SDK names a crossgrade "lateral"; both words are taken and stored as one.
ALIASES: Final = {"lateral": "crossgrade"}

# The days in one interval, Gregorian average, exact: per-day amounts compare without a float.
_INTERVAL_DAYS: Final = {
    "day": Fraction(1),
    "week": Fraction(7),
    "month": Fraction(146097, 4800),
    "year": Fraction(146097, 400),
}

UPGRADE_PATH_LIST = ListSpec(
    filterable={
        "source_product_id": UpgradePath.source_product_id,
        "target_product_id": UpgradePath.target_product_id,
        "source_price_id": UpgradePath.source_price_id,
        "target_price_id": UpgradePath.target_price_id,
        "transition_type": UpgradePath.transition_type,
        "is_active": UpgradePath.is_active,
    },
    sortable={
        "created_at": UpgradePath.created_at,
        "updated_at": UpgradePath.updated_at,
        "transition_type": UpgradePath.transition_type,
    },
    searchable=(UpgradePath.description,),
    created_at=UpgradePath.created_at,
    tiebreak=UpgradePath.id,
)


@dataclass(frozen=True)
class End:
    """One end of a change: a product, and the price of it when the end is that precise."""

    product_id: str
    price: Price | None = None

    @property
    def price_id(self) -> str | None:
        return None if self.price is None else self.price.id


@dataclass(frozen=True)
class Verdict:
    """Whether a change is allowed, as what, why not, and the declared path that allows it (if one does)."""

    allowed: bool
    transition_type: str | None = None
    reason: str | None = None
    path_id: str | None = None


def normalized_type(transition_type: str) -> str:
    return ALIASES.get(transition_type, transition_type)


async def create_upgrade_path(
    session: AsyncSession,
    account_id: str,
    *,
    source_product_id: str | None = None,
    target_product_id: str | None = None,
    source_price_id: str | None = None,
    target_price_id: str | None = None,
    transition_type: str | None = None,
    description: str | None = None,
    is_active: bool = True,
) -> UpgradePath:
    """Declare a path. Without a ``transition_type`` it is what the family ranks and amounts say it is. The same
    ends declared twice is a conflict: which of two paths would decide a change is otherwise ambiguous."""
    source, target = await _ends(
        session,
        account_id,
        ("source_product_id", source_product_id, "source_price_id", source_price_id),
        ("target_product_id", target_product_id, "target_price_id", target_price_id),
    )
    if source == target:
        raise InvalidFields.one(("target_product_id",), "must differ from the source")
    if transition_type is None:
        natural = await _natural(session, account_id, source, target)
        if not natural.allowed or natural.transition_type is None:
            raise InvalidFields.one(("transition_type",), f"can't be inferred ({natural.reason}); say which")
        transition_type = natural.transition_type
    transition_type = _checked_type(transition_type)
    # Declarations leaving one product are serialised on its row, so two racing duplicates can't both pass.
    await session.scalar(locked(select(Product).where(Product.id == source.product_id)))
    duplicate = await session.scalar(
        select(UpgradePath.id).where(
            UpgradePath.account_id == account_id,
            UpgradePath.deleted_at.is_(None),
            UpgradePath.source_product_id == source.product_id,
            UpgradePath.source_price_id.is_not_distinct_from(source.price_id),
            UpgradePath.target_product_id == target.product_id,
            UpgradePath.target_price_id.is_not_distinct_from(target.price_id),
        )
    )
    if duplicate is not None:
        raise Conflict(f"Upgrade path {duplicate!r} already declares this change.", code="upgrade_path_exists")
    path = UpgradePath(
        id=new_id("upath"),
        account_id=account_id,
        source_product_id=source.product_id,
        source_price_id=source.price_id,
        target_product_id=target.product_id,
        target_price_id=target.price_id,
        transition_type=transition_type,
        description=description,
        is_active=is_active,
    )
    session.add(path)
    await session.flush()
    await record_event(session, account_id=account_id, type="upgrade_path.created", obj=path)
    return path


async def get_upgrade_path(
    session: AsyncSession, account_id: str, path_id: str, *, include_deleted: bool = False
) -> UpgradePath:
    path = await session.scalar(
        select(UpgradePath).where(UpgradePath.id == path_id, UpgradePath.account_id == account_id)
    )
    if path is None or (path.deleted_at is not None and not include_deleted):
        raise NotFound("upgrade_path", path_id)
    return path


async def list_upgrade_paths(
    session: AsyncSession,
    account_id: str,
    params: ListParams,
    *,
    include_deleted: bool = False,
    transition_type: str | None = None,
) -> Page[UpgradePath]:
    query = select(UpgradePath).where(UpgradePath.account_id == account_id)
    if not include_deleted:
        query = query.where(UpgradePath.deleted_at.is_(None))
    if transition_type is not None:
        query = query.where(UpgradePath.transition_type == normalized_type(transition_type))
    return await paginate(session, apply_list_params(query, UPGRADE_PATH_LIST, params), params.page)


async def update_upgrade_path(
    session: AsyncSession, account_id: str, path_id: str, changes: Mapping[str, Any]
) -> UpgradePath:
    """``transition_type``, ``description`` and ``is_active``; the ends are what the path is, so they don't
    change (declare another path)."""
    path = await get_upgrade_path(session, account_id, path_id)
    before = snapshot(path)
    if "transition_type" in changes:
        path.transition_type = _checked_type(changes["transition_type"])
    for field in ("description", "is_active"):
        if field in changes:
            setattr(path, field, changes[field])
    await session.flush()
    await record_event(session, account_id=account_id, type="upgrade_path.updated", obj=path, before=before)
    return path


async def delete_upgrade_path(session: AsyncSession, account_id: str, path_id: str) -> UpgradePath:
    """Soft delete: the path stops deciding changes and stays readable with ``include_deleted``."""
    path = await get_upgrade_path(session, account_id, path_id)
    before = snapshot(path)
    path.is_active = False
    path.deleted_at = clock.now()
    await session.flush()
    await record_event(session, account_id=account_id, type="upgrade_path.deleted", obj=path, before=before)
    return path


async def list_transitions_from_product(
    session: AsyncSession, account_id: str, product_id: str, *, transition_type: str | None = None
) -> list[UpgradePath]:
    """The active paths declared from the product itself (not from one of its prices), newest first."""
    product = await session.scalar(select(Product).where(Product.id == product_id, Product.account_id == account_id))
    if product is None:
        raise NotFound("product", product_id)
    query = _active(account_id).where(
        UpgradePath.source_product_id == product_id, UpgradePath.source_price_id.is_(None)
    )
    return await _transitions(session, query, transition_type)


async def list_transitions_from_price(
    session: AsyncSession, account_id: str, price_id: str, *, transition_type: str | None = None
) -> tuple[Price, list[UpgradePath]]:
    """The price, and the active paths a change from it may take: those from the price itself first, then those
    from its product."""
    price = await session.scalar(select(Price).where(Price.id == price_id, Price.account_id == account_id))
    if price is None:
        raise NotFound("price", price_id)
    own = await _transitions(
        session, _active(account_id).where(UpgradePath.source_price_id == price_id), transition_type
    )
    inherited = await _transitions(
        session,
        _active(account_id).where(
            UpgradePath.source_product_id == price.product_id, UpgradePath.source_price_id.is_(None)
        ),
        transition_type,
    )
    return price, [*own, *inherited]


async def validate_transition(
    session: AsyncSession,
    account_id: str,
    *,
    source_product_id: str | None = None,
    target_product_id: str | None = None,
    source_price_id: str | None = None,
    target_price_id: str | None = None,
) -> Verdict:
    """Whether the account allows the change, and as what; unknown ends are field problems."""
    source, target = await _ends(
        session,
        account_id,
        ("source_product_id", source_product_id, "source_price_id", source_price_id),
        ("target_product_id", target_product_id, "target_price_id", target_price_id),
    )
    return await _decide(session, account_id, source, target)


async def classify_transition(session: AsyncSession, account_id: str, *, from_price_id: str, to_price_id: str) -> str:
    """``upgrade``, ``downgrade`` or ``crossgrade`` for a subscription moving between two of the account's prices; a
    change the account doesn't allow is ``BusinessRuleViolation`` ``transition_not_allowed``, the same price is
    ``Conflict`` ``already_subscribed``."""
    if from_price_id == to_price_id:
        raise Conflict(f"The subscription is already on price {to_price_id!r}.", code="already_subscribed")
    prices = {
        price.id: price
        for price in await session.scalars(
            select(Price).where(Price.account_id == account_id, Price.id.in_([from_price_id, to_price_id]))
        )
    }
    for price_id in (from_price_id, to_price_id):
        if price_id not in prices:
            raise NotFound("price", price_id)
    source, target = (End(prices[i].product_id, prices[i]) for i in (from_price_id, to_price_id))
    verdict = await _decide(session, account_id, source, target)
    if not verdict.allowed or verdict.transition_type is None:
        raise BusinessRuleViolation(
            f"Changing from price {from_price_id!r} to {to_price_id!r} is not allowed: {verdict.reason}.",
            code="transition_not_allowed",
        )
    return verdict.transition_type


def _checked_type(transition_type: str) -> str:
    normalized = normalized_type(transition_type)
    if normalized not in TRANSITION_TYPES:
        raise InvalidFields.one(("transition_type",), "must be upgrade, downgrade or crossgrade (or lateral)")
    return normalized


def _active(account_id: str) -> Select[UpgradePath]:
    return select(UpgradePath).where(
        UpgradePath.account_id == account_id, UpgradePath.is_active.is_(True), UpgradePath.deleted_at.is_(None)
    )


async def _transitions(
    session: AsyncSession, query: Select[UpgradePath], transition_type: str | None
) -> list[UpgradePath]:
    if transition_type is not None:
        query = query.where(UpgradePath.transition_type == normalized_type(transition_type))
    return list(await session.scalars(query.order_by(UpgradePath.created_at.desc(), UpgradePath.id.desc())))


async def _ends(
    session: AsyncSession, account_id: str, *sides: tuple[str, str | None, str, str | None]
) -> tuple[End, End]:
    """Each side's end, every problem of both sides reported at once: at least one id per side, each the
    account's, a price of the product named beside it, a product not deleted."""
    product_ids = [pid for _, pid, _, _ in sides if pid is not None]
    price_ids = [pid for _, _, _, pid in sides if pid is not None]
    products = {
        p.id: p
        for p in await session.scalars(
            select(Product).where(Product.account_id == account_id, Product.id.in_(product_ids))
        )
    }
    prices = {
        p.id: p
        for p in await session.scalars(select(Price).where(Price.account_id == account_id, Price.id.in_(price_ids)))
    }
    problems: list[FieldProblem] = []
    ends: list[End] = []
    for product_field, product_id, price_field, price_id in sides:
        product = None if product_id is None else products.get(product_id)
        price = None if price_id is None else prices.get(price_id)
        if product_id is None and price_id is None:
            problems.append(FieldProblem((product_field,), f"give {product_field} or {price_field}"))
            continue
        if product_id is not None and product is None:
            problems.append(FieldProblem((product_field,), "no such product"))
        elif product is not None and product.deleted_at is not None:
            problems.append(FieldProblem((product_field,), "the product is deleted"))
        if price_id is not None and price is None:
            problems.append(FieldProblem((price_field,), "no such price"))
        elif price is not None and product_id is not None and price.product_id != product_id:
            problems.append(FieldProblem((price_field,), f"is not a price of product {product_id}"))
        ends.append(End(price.product_id if price is not None else str(product_id), price))
    if problems:
        raise InvalidFields(problems)
    return ends[0], ends[1]


async def _decide(session: AsyncSession, account_id: str, source: End, target: End) -> Verdict:
    if source == target:
        return Verdict(False, reason="the source and the target are the same plan")
    for end in (source, target):
        price = end.price
        if price is not None and price.pricing_type != RECURRING:
            return Verdict(False, reason=f"price {price.id} does not recur, so there is no plan to change")
    if source.price is not None and target.price is not None and source.price.currency != target.price.currency:
        return Verdict(False, reason="a plan change stays in one currency")
    if await session.scalar(select(exists(_active(account_id)))):
        return await _declared(session, account_id, source, target)
    return await _natural(session, account_id, source, target)


async def _declared(session: AsyncSession, account_id: str, source: End, target: End) -> Verdict:
    """The most precise active path matching both ends: a path's price end matches only that price, its product
    end any price of the product."""
    candidates = await session.scalars(
        _active(account_id).where(
            UpgradePath.source_product_id == source.product_id,
            UpgradePath.target_product_id == target.product_id,
        )
    )

    def matches(path_price_id: str | None, end: End) -> bool:
        return path_price_id is None or path_price_id == end.price_id

    matching = [
        path for path in candidates if matches(path.source_price_id, source) and matches(path.target_price_id, target)
    ]
    if not matching:
        return Verdict(False, reason="no upgrade path the account declared allows this change")
    best = max(matching, key=lambda p: (p.source_price_id is not None, p.target_price_id is not None))
    return Verdict(True, transition_type=best.transition_type, path_id=best.id)


async def _natural(session: AsyncSession, account_id: str, source: End, target: End) -> Verdict:
    """Without declared paths: family ranks, then the amount per day of one product's two prices."""
    if source.product_id == target.product_id:
        if source.price is None or target.price is None:
            return Verdict(False, reason="a change within one product needs both prices to compare")
        placed = _path_step(source.price, target.price)
        step = placed if placed is not None else _per_day(target.price) - _per_day(source.price)
        return Verdict(True, transition_type="upgrade" if step > 0 else "downgrade" if step < 0 else "crossgrade")
    tiers = {
        product_id: (family_id, rank)
        for product_id, family_id, rank in await session.execute(
            select(FamilyMember.product_id, FamilyMember.family_id, FamilyMember.rank)
            .join(ProductFamily, ProductFamily.id == FamilyMember.family_id)
            .where(
                FamilyMember.account_id == account_id,
                FamilyMember.product_id.in_([source.product_id, target.product_id]),
                ProductFamily.deleted_at.is_(None),
            )
        )
    }
    if len(tiers) == 2 and tiers[source.product_id][0] == tiers[target.product_id][0]:
        higher = tiers[target.product_id][1] > tiers[source.product_id][1]
        return Verdict(True, transition_type="upgrade" if higher else "downgrade")
    return Verdict(True, transition_type="crossgrade")


def _path_step(source: Price, target: Price) -> int | None:
    """How far up the product's upgrade path the target is from the source, when the merchant placed both on it
    and they bill as often (places are counted per billing frequency); None otherwise."""
    if source.upgrade_path_order is None or target.upgrade_path_order is None:
        return None
    billing = (source.recurring_interval, source.recurring_interval_count or 1)
    if billing != (target.recurring_interval, target.recurring_interval_count or 1):
        return None
    return target.upgrade_path_order - source.upgrade_path_order


def _per_day(price: Price) -> Fraction:
    interval = price.recurring_interval or "month"
    # One unit's amount: a tiered or package price has no unit amount of its own, and one unit is what every scheme
    # prices alike.
    return Fraction(amount_for(price, 1)) / (_INTERVAL_DAYS[interval] * (price.recurring_interval_count or 1))
