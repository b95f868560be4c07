"""Applying a coupon or a promotion code to an order, and counting its use when the purchase is made.

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

:func:`checkstand.discounts.maths.compute_discount` is the pure maths behind step 1, for callers that already hold a
checked coupon (a subscription renewing under a ``forever`` coupon).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock, money
from checkstand.core.errors import BusinessRuleViolation, InvalidFields, NotFound
from checkstand.core.ids import new_id
from checkstand.core.pagination import Page, PageParams, paginate
from checkstand.customers.models import Customer
from checkstand.discounts.coupons import get_coupon
from checkstand.discounts.maths import Discount, Line, check_currency, compute_discount
from checkstand.discounts.models import ACTIVE, Coupon, PromotionCode, Redemption
from checkstand.discounts.promotion_codes import find_promotion_code
from checkstand.events.service import record_event, snapshot


@dataclass(frozen=True)
class AppliedDiscount:
    """A coupon (through a promotion code or not) checked and priced for one order: what :func:`redeem` counts."""

    coupon: Coupon
    promotion_code: PromotionCode | None
    currency: str
    discount: Discount


def _refuse(detail: str, code: str) -> BusinessRuleViolation:
    return BusinessRuleViolation(detail, code=code)


def check_coupon(coupon: Coupon, now: datetime) -> None:
    """Raise why ``coupon`` can't be used at ``now``, if it can't."""
    refusal = coupon.refusal_at(now)
    if refusal is not None:
        raise _refuse(*refusal)


def check_promotion_code_state(code: PromotionCode, now: datetime) -> None:
    """Raise why ``code`` itself (not its coupon) can't be used at ``now``, if it can't."""
    if not code.active:
        raise _refuse("The promotion code is not active.", "promotion_code_inactive")
    if code.expires_at is not None and now >= code.expires_at:
        raise _refuse("The promotion code has expired.", "promotion_code_expired")
    if code.max_redemptions is not None and code.times_redeemed >= code.max_redemptions:
        raise _refuse("The promotion code has been used as many times as it may be.", "promotion_code_exhausted")


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
        raise InvalidFields.one(("customer_id",), f"no customer {customer_id!r}")
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


async def list_redemptions(
    session: AsyncSession, account_id: str, coupon_id: str, page: PageParams, *, promotion_code_id: str | None = None
) -> Page[Redemption]:
    """A coupon's uses (only those through ``promotion_code_id`` when given), newest first. The coupon is always
    named, so the ``(account_id, coupon_id)`` index serves the query, a code's uses included."""
    query: Select[Redemption] = select(Redemption).where(
        Redemption.account_id == account_id, Redemption.coupon_id == coupon_id
    )
    if promotion_code_id is not None:
        query = query.where(Redemption.promotion_code_id == promotion_code_id)
    return await paginate(session, query.order_by(Redemption.created_at.desc(), Redemption.id.desc()), page)


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
