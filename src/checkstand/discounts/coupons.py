"""Coupons: the terms of a discount, which a merchant creates, changes, deactivates and deletes.

Every problem with a request is reported at once, each at its field as the arguments name it; whether a coupon may
be applied to an order is :mod:`checkstand.discounts.redemptions`' to say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog.models import Product
from checkstand.core import clock, money
from checkstand.core.errors import BusinessRuleViolation, Conflict, FieldPath, FieldProblem, InvalidFields, NotFound
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import one_or_not_found
from checkstand.core.metadata import merge_metadata
from checkstand.core.pagination import Page, paginate
from checkstand.discounts import limits
from checkstand.discounts.maths import AMOUNT_OFF, BASIS_POINTS, DISCOUNT_TYPES, PERCENT_OFF, TRIAL_EXTENSION
from checkstand.discounts.models import ACTIVE, DELETED, INACTIVE, Coupon
from checkstand.events.service import record_event, snapshot

DURATIONS: Final = ("once", "repeating", "forever")
MAX_PRODUCTS: Final = 100
MAX_NOTES: Final = 100

COUPON_LIST_SPEC: Final = ListSpec(
    filterable={
        "status": Coupon.status,
        "discount_type": Coupon.discount_type,
        "duration": Coupon.duration,
        "currency": Coupon.currency,
        "name": Coupon.name,
    },
    sortable={
        "created_at": Coupon.created_at,
        "updated_at": Coupon.updated_at,
        "name": Coupon.name,
        "redemption_count": Coupon.times_redeemed,
        "valid_until": Coupon.valid_until,
    },
    searchable=(Coupon.name, Coupon.id),
    created_at=Coupon.created_at,
    tiebreak=Coupon.id,
)


async def get_coupon(session: AsyncSession, account_id: str, coupon_id: str) -> Coupon:
    return await one_or_not_found(
        session, select(Coupon).where(Coupon.id == coupon_id, Coupon.account_id == account_id), "coupon", coupon_id
    )


async def list_coupons(
    session: AsyncSession,
    account_id: str,
    params: ListParams,
    *,
    status: str | None = None,
    include_deleted: bool = False,
) -> Page[Coupon]:
    """Newest first. Deleted coupons only when asked for, by ``include_deleted`` or ``status="deleted"``."""
    query: Select[Coupon] = select(Coupon).where(Coupon.account_id == account_id)
    if status is not None:
        query = query.where(Coupon.status == status)
    elif not include_deleted:
        query = query.where(Coupon.status != DELETED)
    return await paginate(session, apply_list_params(query, COUPON_LIST_SPEC, params), params.page)


def _discount_problems(
    discount_type: str,
    amount_atom_off: int | None,
    percent_off_bp: int | None,
    trial_days_off: int | None,
    currency: str | None,
) -> list[FieldProblem]:
    """Exactly the fields of the discount type, and each of them."""
    fields: dict[str, object] = {
        "amount_atom_off": amount_atom_off,
        "percent_off_bp": percent_off_bp,
        "trial_days_off": trial_days_off,
        "currency": currency,
    }
    wanted = {
        AMOUNT_OFF: {"amount_atom_off", "currency"},
        PERCENT_OFF: {"percent_off_bp"},
        TRIAL_EXTENSION: {"trial_days_off"},
    }[discount_type]
    problems = [
        FieldProblem((name,), f"required when discount_type is {discount_type}", "missing")
        for name in sorted(wanted)
        if fields[name] is None
    ]
    problems += [
        FieldProblem((name,), f"not allowed when discount_type is {discount_type}", "extra_forbidden")
        for name in sorted(set(fields) - wanted)
        if fields[name] is not None
    ]
    if amount_atom_off is not None and amount_atom_off <= 0:
        problems.append(FieldProblem(("amount_atom_off",), "must be greater than 0"))
    elif (
        amount_atom_off is not None
        and currency is not None
        and money.is_currency(currency)
        and amount_atom_off > money.max_amount_atom(currency)
    ):
        problems.append(FieldProblem(("amount_atom_off",), f"must be {money.amount_limit(currency)}"))
    if percent_off_bp is not None and not 0 < percent_off_bp <= BASIS_POINTS:
        problems.append(FieldProblem(("percent_off_bp",), "must be greater than 0 and at most 100"))
    if trial_days_off is not None and trial_days_off <= 0:
        problems.append(FieldProblem(("trial_days_off",), "must be greater than 0"))
    if currency is not None and not money.is_currency(currency):
        problems.append(FieldProblem(("currency",), f"{currency!r} is not an ISO 4217 currency"))
    return problems


async def _product_problems(
    session: AsyncSession, account_id: str, product_ids: Sequence[str], path: FieldPath
) -> list[FieldProblem]:
    if len(product_ids) > MAX_PRODUCTS:
        return [FieldProblem(path, f"at most {MAX_PRODUCTS} products")]
    found = set(
        await session.scalars(
            select(Product.id).where(
                Product.account_id == account_id, Product.id.in_(list(product_ids)), Product.deleted_at.is_(None)
            )
        )
    )
    return [
        FieldProblem((*path, index), f"no product {product_id!r}")
        for index, product_id in enumerate(product_ids)
        if product_id not in found
    ]


async def create_coupon(
    session: AsyncSession,
    account_id: str,
    *,
    discount_type: str,
    name: str | None = None,
    amount_atom_off: int | None = None,
    percent_off_bp: int | None = None,
    trial_days_off: int | None = None,
    currency: str | None = None,
    duration: str = "once",
    duration_in_months: int | None = None,
    max_redemptions: int | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    validity_period_days: int | None = None,
    product_ids: Sequence[str] = (),
    metadata: Mapping[str, str] | None = None,
) -> Coupon:
    """A new active coupon. Every problem with the request is reported at once, each at its field, and nothing is
    stored then. ``validity_period_days`` counts from now and sets ``valid_until``."""
    if discount_type not in DISCOUNT_TYPES:
        raise InvalidFields.one(("discount_type",), f"must be one of {', '.join(DISCOUNT_TYPES)}")
    problems = _discount_problems(discount_type, amount_atom_off, percent_off_bp, trial_days_off, currency)
    now = clock.now()
    if duration not in DURATIONS:
        problems.append(FieldProblem(("duration",), f"must be one of {', '.join(DURATIONS)}"))
    elif (duration == "repeating") != (duration_in_months is not None):
        problems.append(
            FieldProblem(
                ("duration_in_months",),
                "required when duration is repeating" if duration == "repeating" else "only with duration repeating",
            )
        )
    if duration_in_months is not None and duration_in_months <= 0:
        problems.append(FieldProblem(("duration_in_months",), "must be greater than 0"))
    if max_redemptions is not None and max_redemptions <= 0:
        problems.append(FieldProblem(("max_redemptions",), "must be greater than 0"))
    if validity_period_days is not None:
        if valid_until is not None:
            problems.append(FieldProblem(("validity_period_days",), "give valid_until or this, not both"))
        elif validity_period_days <= 0:
            problems.append(FieldProblem(("validity_period_days",), "must be greater than 0"))
        else:
            valid_until = now + timedelta(days=validity_period_days)
    problems += _window_problems(valid_from, valid_until, now)
    unique_products = list(dict.fromkeys(product_ids))
    problems += await _product_problems(session, account_id, unique_products, ("product_ids",))
    if problems:
        raise InvalidFields(problems)
    coupon = Coupon(
        id=new_id("coupon"),
        account_id=account_id,
        name=name,
        status=ACTIVE,
        discount_type=discount_type,
        amount_atom_off=amount_atom_off,
        percent_off_bp=percent_off_bp,
        trial_days_off=trial_days_off,
        currency=currency.lower() if currency else None,
        duration=duration,
        duration_in_months=duration_in_months,
        max_redemptions=max_redemptions,
        times_redeemed=0,
        valid_from=valid_from,
        valid_until=valid_until,
        validity_period_days=validity_period_days,
        product_ids=unique_products,
        coupon_metadata=dict(metadata or {}),
        notes=[],
    )
    session.add(coupon)
    await session.flush()
    await record_event(session, account_id=account_id, type="coupon.created", obj=coupon)
    return coupon


def _window_problems(valid_from: datetime | None, valid_until: datetime | None, now: datetime) -> list[FieldProblem]:
    if valid_until is None:
        return []
    if valid_until <= now:
        return [FieldProblem(("valid_until",), "must be in the future")]
    if valid_from is not None and valid_from >= valid_until:
        return [FieldProblem(("valid_until",), "must be after valid_from")]
    return []


def _not_deleted(coupon: Coupon) -> None:
    if coupon.status == DELETED:
        raise Conflict(f"Coupon {coupon.id!r} is deleted.", code="coupon_deleted")


async def update_coupon(session: AsyncSession, account_id: str, coupon_id: str, changes: Mapping[str, Any]) -> Coupon:
    """Apply the fields present in ``changes`` (name, max_redemptions, valid_until, metadata). A limit can't go
    below the uses already counted; that is checked in the ``UPDATE`` itself, so a redemption racing the change
    can't slip past it."""
    coupon = await get_coupon(session, account_id, coupon_id)
    _not_deleted(coupon)
    before = snapshot(coupon)
    now = clock.now()
    if "valid_until" in changes:
        if problems := _window_problems(coupon.valid_from, changes["valid_until"], now):
            raise InvalidFields(problems)
        coupon.valid_until = changes["valid_until"]
        coupon.validity_period_days = None
    if "name" in changes:
        coupon.name = changes["name"]
    if "metadata" in changes:
        coupon.coupon_metadata = merge_metadata(coupon.coupon_metadata, changes["metadata"])
    if "max_redemptions" in changes:
        await session.flush()
        await limits.set_redemption_limit(session, coupon, changes["max_redemptions"])
    await session.flush()
    await record_event(session, account_id=account_id, type="coupon.updated", obj=coupon, before=before)
    return coupon


async def set_coupon_active(session: AsyncSession, account_id: str, coupon_id: str, active: bool) -> Coupon:
    """Activate or deactivate; doing it twice changes nothing and records no second event."""
    coupon = await get_coupon(session, account_id, coupon_id)
    _not_deleted(coupon)
    before = snapshot(coupon)
    coupon.status = ACTIVE if active else INACTIVE
    await session.flush()
    await record_event(session, account_id=account_id, type="coupon.updated", obj=coupon, before=before)
    return coupon


async def delete_coupon(session: AsyncSession, account_id: str, coupon_id: str) -> Coupon:
    """Soft delete: the coupon can't be used again, and its promotion codes with it. Deleting twice is a no-op."""
    coupon = await get_coupon(session, account_id, coupon_id)
    if coupon.status == DELETED:
        return coupon
    coupon.status = DELETED
    coupon.deleted_at = clock.now()
    await session.flush()
    await record_event(session, account_id=account_id, type="coupon.deleted", obj=coupon)
    return coupon


async def add_coupon_note(
    session: AsyncSession, account_id: str, coupon_id: str, *, content: str, author_type: str, author_id: str | None
) -> dict[str, Any]:
    coupon = await get_coupon(session, account_id, coupon_id)
    if len(coupon.notes) >= MAX_NOTES:
        raise BusinessRuleViolation(f"A coupon keeps at most {MAX_NOTES} notes.", code="coupon_notes_full")
    note = {
        "id": new_id("cnote"),
        "content": content,
        "created_by_type": author_type,
        "created_by_id": author_id,
        "created_at": clock.now().isoformat(),
    }
    # A new list, not an append: a JSON column only notices assignment.
    coupon.notes = [*coupon.notes, note]
    await session.flush()
    return note


async def delete_coupon_note(session: AsyncSession, account_id: str, coupon_id: str, note_id: str) -> None:
    coupon = await get_coupon(session, account_id, coupon_id)
    kept = [note for note in coupon.notes if note["id"] != note_id]
    if len(kept) == len(coupon.notes):
        raise NotFound("coupon_note", note_id)
    coupon.notes = kept
    await session.flush()


def is_valid(coupon: Coupon, now: datetime) -> bool:
    """Whether the coupon can be applied at all right now (Stripe's ``valid``)."""
    return coupon.refusal_at(now) is None
