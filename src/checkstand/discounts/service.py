"""Coupons, promotion codes and the one function that applies a discount to an amount.

How checkout sessions, subscriptions and anything else that sells use this module:

1. ``applied = await resolve_discount(session, account_id, coupon_id=... or promotion_code=..., customer_id=...,
   currency=..., lines=[Line(amount_atom, product_id), ...])`` checks every rule (state, dates, limits, the code's
   restrictions, products, currency) and prices the discount, or raises :class:`BusinessRuleViolation` whose
   ``code`` says why (``coupon_expired``, ``promotion_code_first_time_only``...). It changes nothing, so it can be
   called to show a price as often as needed.
2. ``applied.discount`` says how much comes off, in total and per line (``line_amounts_atom``), and any trial days.
3. When the purchase is made, in its transaction: ``await redeem(session, account_id, applied, customer_id=...)``.
   It counts the use with a conditional ``UPDATE`` in the database, so concurrent buyers can never use a coupon or
   code more than its ``max_redemptions``; the loser of a race for the last use gets ``coupon_exhausted`` or
   ``promotion_code_exhausted`` and its transaction must roll back.

:func:`compute_discount` is the pure maths behind step 1, for callers that already hold a checked coupon (a
subscription renewing under a ``forever`` coupon).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog.models import Product
from checkstand.core import clock, money
from checkstand.core.errors import BusinessRuleViolation, Conflict, FieldProblem, InvalidFields, NotFound
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import one_or_not_found
from checkstand.core.metadata import merge_metadata
from checkstand.core.pagination import Page, paginate
from checkstand.customers.models import Customer
from checkstand.discounts.models import Coupon, PromotionCode, Redemption
from checkstand.events.service import record_event, snapshot

AMOUNT_OFF: Final = "amount_off"
PERCENT_OFF: Final = "percent_off"
TRIAL_EXTENSION: Final = "trial_extension"
DISCOUNT_TYPES: Final = (AMOUNT_OFF, PERCENT_OFF, TRIAL_EXTENSION)
DURATIONS: Final = ("once", "repeating", "forever")

ACTIVE: Final = "active"
INACTIVE: Final = "inactive"
DELETED: Final = "deleted"
COUPON_STATUSES: Final = (ACTIVE, INACTIVE, DELETED)

BASIS_POINTS: Final = 10_000  # 100 %
MAX_PRODUCTS: Final = 100
MAX_NOTES: Final = 100
CODE_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"

Loc = tuple[str | int, ...]

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

PROMOTION_CODE_LIST_SPEC: Final = ListSpec(
    filterable={
        "coupon_id": PromotionCode.coupon_id,
        "active": PromotionCode.active,
        "first_time_transaction": PromotionCode.first_time_transaction,
    },
    sortable={
        "created_at": PromotionCode.created_at,
        "updated_at": PromotionCode.updated_at,
        "code": PromotionCode.code_normalized,
        "times_redeemed": PromotionCode.times_redeemed,
        "expires_at": PromotionCode.expires_at,
    },
    searchable=(PromotionCode.code, PromotionCode.id),
    created_at=PromotionCode.created_at,
    tiebreak=PromotionCode.id,
)


# --- The discount maths ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of an order: its amount before any discount (unit amount times quantity) in minor units, and the
    product it sells, which decides whether a coupon restricted to some products applies to it."""

    amount_atom: int
    product_id: str | None = None


@dataclass(frozen=True)
class Discount:
    """What a coupon takes off an order. ``line_amounts_atom`` follows the order of the lines given and sums to
    ``amount_atom``; no line gets more off than its own amount, and lines the coupon doesn't apply to get 0."""

    amount_atom: int
    line_amounts_atom: tuple[int, ...]
    trial_days_off: int = 0


@dataclass(frozen=True)
class AppliedDiscount:
    """A coupon (through a promotion code or not) checked and priced for one order: what :func:`redeem` counts."""

    coupon: Coupon
    promotion_code: PromotionCode | None
    currency: str
    discount: Discount


def compute_discount(coupon: Coupon, lines: Sequence[Line], currency: str) -> Discount:
    """The discount ``coupon`` gives on ``lines`` priced in ``currency``; pure, it reads neither clock nor database.

    Only the lines of the coupon's products are discounted when it has ``product_ids`` (none of them:
    ``coupon_not_applicable``). A percentage is taken of their sum and rounded half-even to the currency's minor
    unit; an amount off never exceeds that sum, so a total is never negative, and applies only in the coupon's own
    currency (else ``coupon_currency_mismatch``). A trial extension takes nothing off the amount. The total is then
    shared among the discounted lines in proportion to their amounts (largest remainder first), so invoices and
    refunds can say what each line cost.
    """
    money.exponent(currency)  # an unknown currency is the caller's bug, not the customer's
    if any(line.amount_atom < 0 for line in lines):
        raise ValueError("a line's amount can't be negative")
    restricted_to = set(coupon.product_ids or ())
    applies = [not restricted_to or line.product_id in restricted_to for line in lines]
    if not any(applies):
        raise BusinessRuleViolation(
            "The coupon applies to none of the products of this order.", code="coupon_not_applicable"
        )
    check_currency(coupon, currency)
    weights = [line.amount_atom if ok else 0 for line, ok in zip(lines, applies, strict=True)]
    base = sum(weights)
    trial_days_off = 0
    if coupon.discount_type == AMOUNT_OFF:
        total = min(coupon.amount_atom_off or 0, base)
    elif coupon.discount_type == PERCENT_OFF:
        total = money.divide_half_even(base * (coupon.percent_off_bp or 0), BASIS_POINTS)
    else:
        total, trial_days_off = 0, coupon.trial_days_off or 0
    return Discount(amount_atom=total, line_amounts_atom=_allocate(total, weights), trial_days_off=trial_days_off)


def check_currency(coupon: Coupon, currency: str) -> None:
    """An amount off is money in one currency: it applies to orders in that currency only."""
    if coupon.discount_type == AMOUNT_OFF and (coupon.currency or "").lower() != currency.lower():
        raise BusinessRuleViolation(
            f"The coupon takes an amount off in {(coupon.currency or '').upper()}, not in {currency.upper()}.",
            code="coupon_currency_mismatch",
        )


def _allocate(total: int, weights: Sequence[int]) -> tuple[int, ...]:
    """``total`` (at most ``sum(weights)``) shared in proportion to ``weights`` in whole minor units: each share is
    rounded down, then the units left over go to the largest remainders (the earlier line on a tie)."""
    whole = sum(weights)
    if total == 0:
        return tuple(0 for _ in weights)
    shares = [total * weight // whole for weight in weights]
    left = total - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for index in by_remainder[:left]:
        shares[index] += 1
    return tuple(shares)


# --- Checking a coupon and a code -----------------------------------------------------------------------------------


def _refuse(detail: str, code: str) -> BusinessRuleViolation:
    return BusinessRuleViolation(detail, code=code)


def check_coupon(coupon: Coupon, now: datetime) -> None:
    """Raise why ``coupon`` can't be used at ``now``, if it can't."""
    if coupon.status != ACTIVE:
        raise _refuse(f"The coupon is {coupon.status}.", "coupon_inactive")
    if coupon.valid_from is not None and now < coupon.valid_from:
        raise _refuse("The coupon is not valid yet.", "coupon_not_yet_valid")
    if coupon.valid_until is not None and now >= coupon.valid_until:
        raise _refuse("The coupon has expired.", "coupon_expired")
    if coupon.max_redemptions is not None and coupon.times_redeemed >= coupon.max_redemptions:
        raise _refuse("The coupon has been used as many times as it may be.", "coupon_exhausted")


def check_promotion_code_state(code: PromotionCode, now: datetime) -> None:
    """Raise why ``code`` itself (not its coupon) can't be used at ``now``, if it can't."""
    if not code.active:
        raise _refuse("The promotion code is not active.", "promotion_code_inactive")
    if code.expires_at is not None and now >= code.expires_at:
        raise _refuse("The promotion code has expired.", "promotion_code_expired")
    if code.max_redemptions is not None and code.times_redeemed >= code.max_redemptions:
        raise _refuse("The promotion code has been used as many times as it may be.", "promotion_code_exhausted")


def is_valid(coupon: Coupon, now: datetime) -> bool:
    """Whether the coupon can be applied at all right now (Stripe's ``valid``)."""
    try:
        check_coupon(coupon, now)
    except BusinessRuleViolation:
        return False
    return True


async def _check_restrictions(
    session: AsyncSession,
    account_id: str,
    code: PromotionCode,
    *,
    customer_id: str | None,
    order_amount_atom: int | None,
    currency: str | None,
) -> None:
    if code.first_time_transaction and customer_id is not None:
        # A customer who has never paid, or one not known yet (an anonymous buyer), is on a first purchase.
        customer = await _customer(session, account_id, customer_id)
        if customer is None:
            raise NotFound("customer", customer_id)
        if customer.first_purchase_at is not None:
            raise _refuse(
                "The promotion code is only for a customer's first purchase.", "promotion_code_first_time_only"
            )
    if code.minimum_amount_atom is None or code.minimum_amount_currency is None:
        return
    minimum = money.format_money(code.minimum_amount_atom, code.minimum_amount_currency)
    if order_amount_atom is None or currency is None:
        raise _refuse(f"The promotion code needs an order of at least {minimum}.", "promotion_code_minimum_not_met")
    if currency.lower() != code.minimum_amount_currency:
        raise _refuse(
            f"The promotion code needs an order of at least {minimum}, in {code.minimum_amount_currency.upper()}.",
            "promotion_code_minimum_not_met",
        )
    if order_amount_atom < code.minimum_amount_atom:
        raise _refuse(f"The promotion code needs an order of at least {minimum}.", "promotion_code_minimum_not_met")


async def _customer(session: AsyncSession, account_id: str, customer_id: str) -> Customer | None:
    return await session.scalar(select(Customer).where(Customer.id == customer_id, Customer.account_id == account_id))


async def _live_code(session: AsyncSession, account_id: str, text: str) -> PromotionCode:
    code = await find_promotion_code(session, account_id, text)
    if code is None:
        raise _refuse(f"No promotion code {text!r}.", "promotion_code_not_found")
    return code


async def resolve_discount(
    session: AsyncSession,
    account_id: str,
    *,
    coupon_id: str | None = None,
    promotion_code: str | None = None,
    customer_id: str | None,
    currency: str,
    lines: Sequence[Line],
) -> AppliedDiscount:
    """Check a coupon (by id) or a promotion code (by the text a customer typed, any case) for an order and price
    its discount; raise :class:`BusinessRuleViolation` with the reason otherwise. Give exactly one of the two.

    ``customer_id`` None is an anonymous buyer, who counts as a first-time customer. The code's minimum amount is
    compared with the sum of all ``lines``. Changes nothing: :func:`redeem` the result when the purchase is made.
    """
    if (coupon_id is None) == (promotion_code is None):
        raise ValueError("give exactly one of coupon_id and promotion_code")
    now = clock.now()
    code: PromotionCode | None = None
    if promotion_code is not None:
        code = await _live_code(session, account_id, promotion_code)
        check_promotion_code_state(code, now)
        coupon = await get_coupon(session, account_id, code.coupon_id)
    else:
        coupon = await get_coupon(session, account_id, str(coupon_id))
    check_coupon(coupon, now)
    if code is not None:
        await _check_restrictions(
            session,
            account_id,
            code,
            customer_id=customer_id,
            order_amount_atom=sum(line.amount_atom for line in lines),
            currency=currency,
        )
    return AppliedDiscount(coupon, code, currency.lower(), compute_discount(coupon, lines, currency))


@dataclass(frozen=True)
class CheckedCode:
    """A promotion code that may be used, with its coupon and, when the order was described, what it takes off."""

    code: PromotionCode
    coupon: Coupon
    discount_atom: int | None


async def check_promotion_code(
    session: AsyncSession,
    account_id: str,
    text: str,
    *,
    customer_id: str | None,
    order_amount_atom: int | None,
    currency: str | None,
) -> CheckedCode:
    """The checks of :func:`resolve_discount` for an order known only by its amount (the ``validate`` and
    ``redeem`` endpoints). Without its lines the order has no products, so a coupon restricted to some products is
    not priced here: its products are checked when a checkout has them. An unknown customer is a field error: the
    redemption would name them."""
    if customer_id is not None and await _customer(session, account_id, customer_id) is None:
        raise InvalidFields.one(("body", "customer_id"), f"no customer {customer_id!r}")
    now = clock.now()
    code = await _live_code(session, account_id, text)
    check_promotion_code_state(code, now)
    coupon = await get_coupon(session, account_id, code.coupon_id)
    check_coupon(coupon, now)
    await _check_restrictions(
        session, account_id, code, customer_id=customer_id, order_amount_atom=order_amount_atom, currency=currency
    )
    discount_atom = None
    if currency is not None:
        check_currency(coupon, currency)
        if order_amount_atom is not None and not coupon.product_ids:
            discount_atom = compute_discount(coupon, [Line(order_amount_atom)], currency).amount_atom
    return CheckedCode(code, coupon, discount_atom)


# --- Counting redemptions -------------------------------------------------------------------------------------------


def _coupon_redeemable(now: datetime) -> ColumnElement[bool]:
    """:func:`check_coupon` as SQL, so the database decides under concurrency."""
    return and_(
        Coupon.status == ACTIVE,
        or_(Coupon.valid_from.is_(None), Coupon.valid_from <= now),
        or_(Coupon.valid_until.is_(None), Coupon.valid_until > now),
        or_(Coupon.max_redemptions.is_(None), Coupon.times_redeemed < Coupon.max_redemptions),
    )


def _code_redeemable(now: datetime) -> ColumnElement[bool]:
    """:func:`check_promotion_code_state` as SQL."""
    return and_(
        PromotionCode.active.is_(True),
        PromotionCode.deleted_at.is_(None),
        or_(PromotionCode.expires_at.is_(None), PromotionCode.expires_at > now),
        or_(PromotionCode.max_redemptions.is_(None), PromotionCode.times_redeemed < PromotionCode.max_redemptions),
    )


async def redeem(
    session: AsyncSession, account_id: str, applied: AppliedDiscount, *, customer_id: str | None
) -> Redemption:
    """Count one use of an applied discount, in the caller's transaction (see the module's docstring)."""
    return await _count_redemption(
        session,
        account_id,
        applied.coupon,
        applied.promotion_code,
        customer_id=customer_id,
        amount_atom=applied.discount.amount_atom,
        currency=applied.currency,
    )


async def redeem_promotion_code(
    session: AsyncSession,
    account_id: str,
    text: str,
    *,
    customer_id: str | None,
    order_amount_atom: int | None,
    currency: str | None,
) -> tuple[PromotionCode, Redemption]:
    """Check and count one use of a promotion code for an order known only by its amount."""
    checked = await check_promotion_code(
        session, account_id, text, customer_id=customer_id, order_amount_atom=order_amount_atom, currency=currency
    )
    redemption = await _count_redemption(
        session,
        account_id,
        checked.coupon,
        checked.code,
        customer_id=customer_id,
        amount_atom=checked.discount_atom,
        currency=currency.lower() if checked.discount_atom is not None and currency else None,
    )
    return checked.code, redemption


async def _count_redemption(
    session: AsyncSession,
    account_id: str,
    coupon: Coupon,
    code: PromotionCode | None,
    *,
    customer_id: str | None,
    amount_atom: int | None,
    currency: str | None,
) -> Redemption:
    now = clock.now()
    # The coupon first, then its code: every redemption locks rows in the same order, so two can't deadlock.
    coupon_before = snapshot(coupon)
    counted = await session.execute(
        update(Coupon)
        .where(Coupon.id == coupon.id, Coupon.account_id == account_id, _coupon_redeemable(now))
        .values(times_redeemed=Coupon.times_redeemed + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(coupon)
    if counted.rowcount != 1:  # type: ignore[attr-defined]
        check_coupon(coupon, now)
        raise _refuse("The coupon has been used as many times as it may be.", "coupon_exhausted")
    await record_event(session, account_id=account_id, type="coupon.updated", obj=coupon, before=coupon_before)
    if code is not None:
        code_before = snapshot(code)
        counted = await session.execute(
            update(PromotionCode)
            .where(PromotionCode.id == code.id, PromotionCode.account_id == account_id, _code_redeemable(now))
            .values(times_redeemed=PromotionCode.times_redeemed + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        await session.refresh(code)
        if counted.rowcount != 1:  # type: ignore[attr-defined]
            check_promotion_code_state(code, now)
            raise _refuse("The promotion code has been used as many times as it may be.", "promotion_code_exhausted")
        await record_event(session, account_id=account_id, type="promotion_code.updated", obj=code, before=code_before)
    redemption = Redemption(
        id=new_id("redm"),
        account_id=account_id,
        coupon_id=coupon.id,
        promotion_code_id=code.id if code is not None else None,
        customer_id=customer_id,
        amount_atom=amount_atom,
        currency=currency,
        created_at=now,
    )
    session.add(redemption)
    await session.flush()
    return redemption


# --- Coupons --------------------------------------------------------------------------------------------------------


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
        "percent_off": percent_off_bp,
        "trial_days_off": trial_days_off,
        "currency": currency,
    }
    wanted = {
        AMOUNT_OFF: {"amount_atom_off", "currency"},
        PERCENT_OFF: {"percent_off"},
        TRIAL_EXTENSION: {"trial_days_off"},
    }[discount_type]
    problems = [
        FieldProblem(("body", name), f"required when discount_type is {discount_type}", "missing")
        for name in sorted(wanted)
        if fields[name] is None
    ]
    problems += [
        FieldProblem(("body", name), f"not allowed when discount_type is {discount_type}", "extra_forbidden")
        for name in sorted(set(fields) - wanted)
        if fields[name] is not None
    ]
    if amount_atom_off is not None and amount_atom_off <= 0:
        problems.append(FieldProblem(("body", "amount_atom_off"), "must be greater than 0"))
    if percent_off_bp is not None and not 0 < percent_off_bp <= BASIS_POINTS:
        problems.append(FieldProblem(("body", "percent_off"), "must be greater than 0 and at most 100"))
    if trial_days_off is not None and trial_days_off <= 0:
        problems.append(FieldProblem(("body", "trial_days_off"), "must be greater than 0"))
    if currency is not None and not money.is_currency(currency):
        problems.append(FieldProblem(("body", "currency"), f"{currency!r} is not an ISO 4217 currency"))
    return problems


async def _product_problems(
    session: AsyncSession, account_id: str, product_ids: Sequence[str], loc: Loc
) -> list[FieldProblem]:
    if len(product_ids) > MAX_PRODUCTS:
        return [FieldProblem(loc, f"at most {MAX_PRODUCTS} products")]
    found = set(
        await session.scalars(
            select(Product.id).where(
                Product.account_id == account_id, Product.id.in_(list(product_ids)), Product.deleted_at.is_(None)
            )
        )
    )
    return [
        FieldProblem((*loc, index), f"no product {product_id!r}")
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
        raise InvalidFields.one(("body", "discount_type"), f"must be one of {', '.join(DISCOUNT_TYPES)}")
    problems = _discount_problems(discount_type, amount_atom_off, percent_off_bp, trial_days_off, currency)
    now = clock.now()
    if duration not in DURATIONS:
        problems.append(FieldProblem(("body", "duration"), f"must be one of {', '.join(DURATIONS)}"))
    elif (duration == "repeating") != (duration_in_months is not None):
        problems.append(
            FieldProblem(
                ("body", "duration_in_months"),
                "required when duration is repeating" if duration == "repeating" else "only with duration repeating",
            )
        )
    if duration_in_months is not None and duration_in_months <= 0:
        problems.append(FieldProblem(("body", "duration_in_months"), "must be greater than 0"))
    if max_redemptions is not None and max_redemptions <= 0:
        problems.append(FieldProblem(("body", "max_redemptions"), "must be greater than 0"))
    if validity_period_days is not None:
        if valid_until is not None:
            problems.append(FieldProblem(("body", "validity_period_days"), "give valid_until or this, not both"))
        elif validity_period_days <= 0:
            problems.append(FieldProblem(("body", "validity_period_days"), "must be greater than 0"))
        else:
            valid_until = now + timedelta(days=validity_period_days)
    problems += _window_problems(valid_from, valid_until, now)
    unique_products = list(dict.fromkeys(product_ids))
    problems += await _product_problems(session, account_id, unique_products, ("body", "product_ids"))
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
        return [FieldProblem(("body", "valid_until"), "must be in the future")]
    if valid_from is not None and valid_from >= valid_until:
        return [FieldProblem(("body", "valid_until"), "must be after valid_from")]
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
        await _set_limit(session, coupon, changes["max_redemptions"])
    await session.flush()
    await record_event(session, account_id=account_id, type="coupon.updated", obj=coupon, before=before)
    return coupon


async def _set_limit(session: AsyncSession, obj: Coupon | PromotionCode, limit: int | None) -> None:
    if limit is not None and limit <= 0:
        raise InvalidFields.one(("body", "max_redemptions"), "must be greater than 0")
    model = type(obj)
    conditions = [model.id == obj.id, model.account_id == obj.account_id]
    if limit is not None:
        conditions.append(model.times_redeemed <= limit)
    result = await session.execute(
        update(model)
        .where(*conditions)
        .values(max_redemptions=limit, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    await session.refresh(obj)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidFields.one(
            ("body", "max_redemptions"), f"can't be below the {obj.times_redeemed} redemptions already made"
        )


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


# --- Promotion codes ------------------------------------------------------------------------------------------------


def normalize_code(text: str) -> str:
    return text.strip().upper()


async def find_promotion_code(session: AsyncSession, account_id: str, text: str) -> PromotionCode | None:
    """The live code a customer typed, whatever its case."""
    return await session.scalar(
        select(PromotionCode).where(
            PromotionCode.account_id == account_id, PromotionCode.code_normalized == normalize_code(text)
        )
    )


async def get_promotion_code(session: AsyncSession, account_id: str, code_id: str) -> PromotionCode:
    return await one_or_not_found(
        session,
        select(PromotionCode).where(
            PromotionCode.id == code_id, PromotionCode.account_id == account_id, PromotionCode.deleted_at.is_(None)
        ),
        "promotion_code",
        code_id,
    )


async def list_promotion_codes(
    session: AsyncSession,
    account_id: str,
    params: ListParams,
    *,
    coupon_id: str | None = None,
    active_only: bool = False,
) -> Page[PromotionCode]:
    query: Select[PromotionCode] = select(PromotionCode).where(
        PromotionCode.account_id == account_id, PromotionCode.deleted_at.is_(None)
    )
    if coupon_id is not None:
        query = query.where(PromotionCode.coupon_id == coupon_id)
    if active_only:
        query = query.where(PromotionCode.active.is_(True))
    return await paginate(session, apply_list_params(query, PROMOTION_CODE_LIST_SPEC, params), params.page)


def _minimum(
    coupon: Coupon | None, amount: Decimal | None, currency: str | None
) -> tuple[int | None, list[FieldProblem]]:
    """The minimum order restriction in minor units, or what is wrong with it."""
    loc = ("body", "restrictions")
    if amount is None and currency is None:
        return None, []
    if amount is None or currency is None:
        missing = "minimum_amount" if amount is None else "minimum_amount_currency"
        return None, [FieldProblem((*loc, missing), "minimum_amount and its currency go together", "missing")]
    if not money.is_currency(currency):
        return None, [FieldProblem((*loc, "minimum_amount_currency"), f"{currency!r} is not an ISO 4217 currency")]
    problems = []
    if coupon is not None and coupon.discount_type == AMOUNT_OFF and coupon.currency != currency.lower():
        problems.append(
            FieldProblem(
                (*loc, "minimum_amount_currency"), f"must be the coupon's currency, {(coupon.currency or '').upper()}"
            )
        )
    atom = to_minor_exact(amount, currency)
    if atom is None or atom <= 0:
        places = money.exponent(currency)
        problems.append(
            FieldProblem((*loc, "minimum_amount"), f"must be above 0 with at most {places} decimals in {currency}")
        )
    return atom, problems


def _expiry_problems(expires_at: datetime | None, now: datetime) -> list[FieldProblem]:
    if expires_at is not None and expires_at <= now:
        return [FieldProblem(("body", "expires_at"), "must be in the future")]
    return []


async def create_promotion_code(
    session: AsyncSession,
    account_id: str,
    *,
    coupon_id: str,
    code: str,
    active: bool = True,
    max_redemptions: int | None = None,
    expires_at: datetime | None = None,
    first_time_transaction: bool = False,
    minimum_amount: Decimal | None = None,
    minimum_amount_currency: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> PromotionCode:
    """A code for a coupon of the account. The code is unique in the account whatever its case: a duplicate, even
    one created at the same moment by another request, is ``promotion_code_taken`` (409). ``minimum_amount`` is in
    the major unit of its currency (10.50 USD), as the SDK sends it."""
    coupon = await session.scalar(select(Coupon).where(Coupon.id == coupon_id, Coupon.account_id == account_id))
    problems: list[FieldProblem] = []
    if coupon is None or coupon.status == DELETED:
        problems.append(FieldProblem(("body", "coupon_id"), f"no coupon {coupon_id!r}"))
    if max_redemptions is not None and max_redemptions <= 0:
        problems.append(FieldProblem(("body", "max_redemptions"), "must be greater than 0"))
    problems += _expiry_problems(expires_at, clock.now())
    minimum_amount_atom, minimum_problems = _minimum(coupon, minimum_amount, minimum_amount_currency)
    problems += minimum_problems
    if problems:
        raise InvalidFields(problems)
    promotion_code = PromotionCode(
        id=new_id("promo"),
        account_id=account_id,
        coupon_id=coupon_id,
        code=code.strip(),
        code_normalized=normalize_code(code),
        active=active,
        max_redemptions=max_redemptions,
        times_redeemed=0,
        expires_at=expires_at,
        first_time_transaction=first_time_transaction,
        minimum_amount_atom=minimum_amount_atom,
        minimum_amount_currency=minimum_amount_currency.lower() if minimum_amount_currency else None,
        code_metadata=dict(metadata or {}),
    )
    try:
        # A savepoint: losing the race for the code must leave the caller's transaction usable.
        async with session.begin_nested():
            session.add(promotion_code)
            await session.flush()
    except IntegrityError:
        raise Conflict(
            f"The promotion code {code.strip()!r} is already in use in this account.", code="promotion_code_taken"
        ) from None
    await record_event(session, account_id=account_id, type="promotion_code.created", obj=promotion_code)
    return promotion_code


async def update_promotion_code(
    session: AsyncSession, account_id: str, code_id: str, changes: Mapping[str, Any]
) -> PromotionCode:
    """Apply the fields present in ``changes`` (active, max_redemptions, expires_at, metadata)."""
    code = await get_promotion_code(session, account_id, code_id)
    before = snapshot(code)
    if "expires_at" in changes:
        if problems := _expiry_problems(changes["expires_at"], clock.now()):
            raise InvalidFields(problems)
        code.expires_at = changes["expires_at"]
    if "active" in changes:
        code.active = bool(changes["active"])
    if "metadata" in changes:
        code.code_metadata = merge_metadata(code.code_metadata, changes["metadata"])
    if "max_redemptions" in changes:
        await session.flush()
        await _set_limit(session, code, changes["max_redemptions"])
    await session.flush()
    await record_event(session, account_id=account_id, type="promotion_code.updated", obj=code, before=before)
    return code


async def delete_promotion_code(session: AsyncSession, account_id: str, code_id: str) -> PromotionCode:
    """The code stops working and disappears from the API; its text is free for a new code."""
    code = await get_promotion_code(session, account_id, code_id)
    code.active = False
    code.deleted_at = clock.now()
    code.code_normalized = None
    await session.flush()
    await record_event(session, account_id=account_id, type="promotion_code.deleted", obj=code)
    return code


def to_minor_exact(amount: Decimal, currency: str) -> int | None:
    """``amount`` in the currency's minor units, or None when it has more decimals than the currency has."""
    minor = money.to_minor(amount, currency)
    return minor if money.to_major(minor, currency) == amount else None
