"""The discount resolver and redemptions on both backends: every refusal code, the promotion code's restrictions,
and exact redemption counts under truly concurrent sessions."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.catalog import service as catalog
from checkstand.core import clock
from checkstand.core.clock import FrozenClock
from checkstand.core.errors import BusinessRuleViolation, Conflict, InvalidFields, NotFound
from checkstand.customers import service as customers
from checkstand.db import Database
from checkstand.discounts import coupons, promotion_codes, redemptions
from checkstand.discounts.maths import Line
from checkstand.discounts.models import Coupon, PromotionCode, Redemption
from checkstand.events.models import Event

ORDER = [Line(2000)]


@pytest.fixture
async def account_id(session: AsyncSession) -> str:
    account = await accounts.create_account(session, name="Discounts")
    await session.commit()
    return account.id


async def refusal(
    session: AsyncSession,
    account_id: str,
    *,
    coupon_id: str | None = None,
    promotion_code: str | None = None,
    customer_id: str | None = None,
    currency: str = "usd",
    lines: list[Line] = ORDER,
) -> str:
    """The code a resolve is refused with."""
    with pytest.raises(BusinessRuleViolation) as refused:
        await redemptions.resolve_discount(
            session,
            account_id,
            coupon_id=coupon_id,
            promotion_code=promotion_code,
            customer_id=customer_id,
            currency=currency,
            lines=lines,
        )
    return refused.value.code


async def discount_of(
    session: AsyncSession,
    account_id: str,
    *,
    coupon_id: str | None = None,
    promotion_code: str | None = None,
    customer_id: str | None = None,
    lines: list[Line] = ORDER,
) -> int:
    """What a resolve takes off an order in USD."""
    applied = await redemptions.resolve_discount(
        session,
        account_id,
        coupon_id=coupon_id,
        promotion_code=promotion_code,
        customer_id=customer_id,
        currency="usd",
        lines=lines,
    )
    return applied.discount.amount_atom


async def test_a_code_is_found_whatever_its_case_and_priced(session: AsyncSession, account_id: str) -> None:
    coupon = await coupons.create_coupon(session, account_id, discount_type="percent_off", percent_off_bp=2500)
    code = await promotion_codes.create_promotion_code(session, account_id, coupon_id=coupon.id, code="Summer-25")
    applied = await redemptions.resolve_discount(
        session, account_id, promotion_code=" summer-25 ", customer_id=None, currency="USD", lines=ORDER
    )
    assert applied.promotion_code is not None
    assert applied.promotion_code.id == code.id
    assert (applied.coupon.id, applied.currency, applied.discount.amount_atom) == (coupon.id, "usd", 500)
    by_id = await redemptions.resolve_discount(
        session, account_id, coupon_id=coupon.id, customer_id=None, currency="usd", lines=ORDER
    )
    assert by_id.promotion_code is None
    assert by_id.discount.amount_atom == 500
    with pytest.raises(ValueError, match="exactly one"):
        await redemptions.resolve_discount(
            session,
            account_id,
            coupon_id=coupon.id,
            promotion_code="SUMMER-25",
            customer_id=None,
            currency="usd",
            lines=[],
        )


async def test_coupon_dates(session: AsyncSession, account_id: str, frozen_clock: FrozenClock) -> None:
    now = clock.now()
    later = await coupons.create_coupon(
        session,
        account_id,
        discount_type="percent_off",
        percent_off_bp=1000,
        valid_from=now + timedelta(days=1),
        valid_until=now + timedelta(days=3),
    )
    for_a_week = await coupons.create_coupon(
        session, account_id, discount_type="percent_off", percent_off_bp=1000, validity_period_days=7
    )
    assert for_a_week.valid_until == now + timedelta(days=7)
    assert await refusal(session, account_id, coupon_id=later.id) == "coupon_not_yet_valid"
    frozen_clock.advance(timedelta(days=1))
    applied = await redemptions.resolve_discount(
        session, account_id, coupon_id=later.id, customer_id=None, currency="usd", lines=ORDER
    )
    assert applied.discount.amount_atom == 200
    frozen_clock.advance(timedelta(days=2))
    assert await refusal(session, account_id, coupon_id=later.id) == "coupon_expired"
    frozen_clock.advance(timedelta(days=4))
    assert await refusal(session, account_id, coupon_id=for_a_week.id) == "coupon_expired"


async def test_coupon_state_and_limit(session: AsyncSession, account_id: str) -> None:
    coupon = await coupons.create_coupon(
        session, account_id, discount_type="amount_off", amount_atom_off=300, currency="usd", max_redemptions=1
    )
    await coupons.set_coupon_active(session, account_id, coupon.id, False)
    assert await refusal(session, account_id, coupon_id=coupon.id) == "coupon_inactive"
    await coupons.set_coupon_active(session, account_id, coupon.id, True)
    applied = await redemptions.resolve_discount(
        session, account_id, coupon_id=coupon.id, customer_id=None, currency="usd", lines=ORDER
    )
    await redemptions.redeem(session, account_id, applied, customer_id=None)
    assert await refusal(session, account_id, coupon_id=coupon.id) == "coupon_exhausted"
    with pytest.raises(BusinessRuleViolation) as again:
        await redemptions.redeem(session, account_id, applied, customer_id=None)
    assert again.value.code == "coupon_exhausted"
    await coupons.update_coupon(session, account_id, coupon.id, {"max_redemptions": None})
    assert (await discount_of(session, account_id, coupon_id=coupon.id)) == 300
    await coupons.delete_coupon(session, account_id, coupon.id)
    assert await refusal(session, account_id, coupon_id=coupon.id) == "coupon_inactive"
    with pytest.raises(NotFound):
        await redemptions.resolve_discount(
            session, account_id, coupon_id="coupon_nope", customer_id=None, currency="usd", lines=ORDER
        )


async def test_products_and_currency(session: AsyncSession, account_id: str) -> None:
    shirt = await catalog.create_product(session, account_id, name="Shirt")
    mug = await catalog.create_product(session, account_id, name="Mug")
    coupon = await coupons.create_coupon(
        session, account_id, discount_type="amount_off", amount_atom_off=5000, currency="usd", product_ids=[shirt.id]
    )
    assert await refusal(session, account_id, coupon_id=coupon.id, lines=[Line(900, mug.id)]) == "coupon_not_applicable"
    assert (
        await refusal(session, account_id, coupon_id=coupon.id, currency="eur", lines=[Line(900, shirt.id)])
        == "coupon_currency_mismatch"
    )
    applied = await redemptions.resolve_discount(
        session,
        account_id,
        coupon_id=coupon.id,
        customer_id=None,
        currency="usd",
        lines=[Line(900, mug.id), Line(1500, shirt.id), Line(700, shirt.id)],
    )
    assert applied.discount.amount_atom == 2200  # all of the shirts, nothing of the mug, never more than they cost
    assert applied.discount.line_amounts_atom == (0, 1500, 700)


async def test_code_state_refusals(session: AsyncSession, account_id: str, frozen_clock: FrozenClock) -> None:
    coupon = await coupons.create_coupon(session, account_id, discount_type="percent_off", percent_off_bp=1000)
    other_account = await accounts.create_account(session, name="Other")
    elsewhere = await coupons.create_coupon(session, other_account.id, discount_type="percent_off", percent_off_bp=1)
    await promotion_codes.create_promotion_code(session, other_account.id, coupon_id=elsewhere.id, code="THEIRS")
    assert await refusal(session, account_id, promotion_code="THEIRS") == "promotion_code_not_found"
    assert await refusal(session, account_id, promotion_code="NOPE") == "promotion_code_not_found"

    off = await promotion_codes.create_promotion_code(
        session, account_id, coupon_id=coupon.id, code="OFF", active=False
    )
    assert await refusal(session, account_id, promotion_code="off") == "promotion_code_inactive"
    await promotion_codes.update_promotion_code(session, account_id, off.id, {"active": True})
    assert await discount_of(session, account_id, promotion_code="off") == 200

    await promotion_codes.create_promotion_code(
        session, account_id, coupon_id=coupon.id, code="SOON", expires_at=clock.now() + timedelta(hours=1)
    )
    once = await promotion_codes.create_promotion_code(
        session, account_id, coupon_id=coupon.id, code="ONCE", max_redemptions=1
    )
    frozen_clock.advance(timedelta(hours=1))
    assert await refusal(session, account_id, promotion_code="soon") == "promotion_code_expired"

    applied = await redemptions.resolve_discount(
        session, account_id, promotion_code="once", customer_id=None, currency="usd", lines=ORDER
    )
    await redemptions.redeem(session, account_id, applied, customer_id=None)
    assert await refusal(session, account_id, promotion_code="once") == "promotion_code_exhausted"
    await promotion_codes.delete_promotion_code(session, account_id, once.id)
    assert await refusal(session, account_id, promotion_code="once") == "promotion_code_not_found"

    # The code is fine but its coupon isn't.
    await coupons.set_coupon_active(session, account_id, coupon.id, False)
    assert await refusal(session, account_id, promotion_code="off") == "coupon_inactive"


async def test_first_time_customers_only(session: AsyncSession, account_id: str) -> None:
    coupon = await coupons.create_coupon(session, account_id, discount_type="percent_off", percent_off_bp=1000)
    await promotion_codes.create_promotion_code(
        session, account_id, coupon_id=coupon.id, code="WELCOME", first_time_transaction=True
    )
    newcomer = await customers.create_customer(session, account_id, email="new@example.com")
    regular = await customers.create_customer(session, account_id, email="old@example.com")
    await customers.mark_first_purchase(session, regular)
    assert (
        await discount_of(session, account_id, promotion_code="welcome", customer_id=None) == 200
    )  # anonymous: first time
    assert await discount_of(session, account_id, promotion_code="welcome", customer_id=newcomer.id) == 200
    assert (
        await refusal(session, account_id, promotion_code="welcome", customer_id=regular.id)
        == "promotion_code_first_time_only"
    )


async def test_minimum_order_amount(session: AsyncSession, account_id: str) -> None:
    coupon = await coupons.create_coupon(session, account_id, discount_type="percent_off", percent_off_bp=1000)
    await promotion_codes.create_promotion_code(
        session,
        account_id,
        coupon_id=coupon.id,
        code="BIG",
        minimum_amount=Decimal("50.00"),
        minimum_amount_currency="USD",
    )
    below = [Line(2500), Line(2499)]
    assert await refusal(session, account_id, promotion_code="big", lines=below) == "promotion_code_minimum_not_met"
    assert await refusal(session, account_id, promotion_code="big", currency="eur", lines=[Line(9000)]) == (
        "promotion_code_minimum_not_met"
    )
    assert await discount_of(session, account_id, promotion_code="big", lines=[Line(2500), Line(2500)]) == 500
    with pytest.raises(BusinessRuleViolation) as unknown_amount:
        # An order known by nothing can't show that it reaches the minimum.
        await redemptions.check_promotion_code(
            session, account_id, "BIG", customer_id=None, order_amount_atom=None, currency=None
        )
    assert unknown_amount.value.code == "promotion_code_minimum_not_met"
    checked = await redemptions.check_promotion_code(
        session, account_id, "BIG", customer_id=None, order_amount_atom=5000, currency="usd"
    )
    assert checked.discount_atom == 500


async def test_redeem_counts_records_and_announces(session: AsyncSession, account_id: str) -> None:
    coupon = await coupons.create_coupon(session, account_id, discount_type="percent_off", percent_off_bp=1250)
    code = await promotion_codes.create_promotion_code(session, account_id, coupon_id=coupon.id, code="EIGHTH")
    buyer = await customers.create_customer(session, account_id, email="buyer@example.com")
    applied = await redemptions.resolve_discount(
        session, account_id, promotion_code="eighth", customer_id=buyer.id, currency="jpy", lines=[Line(1234)]
    )
    redemption = await redemptions.redeem(session, account_id, applied, customer_id=buyer.id)
    await session.commit()
    assert (redemption.coupon_id, redemption.promotion_code_id, redemption.customer_id) == (
        coupon.id,
        code.id,
        buyer.id,
    )
    assert (redemption.amount_atom, redemption.currency) == (154, "jpy")  # 154.25 yen
    assert (coupon.times_redeemed, code.times_redeemed) == (1, 1)
    changes = [
        tuple(row)
        for row in await session.execute(
            select(Event.type, Event.previous_data).where(
                Event.account_id == account_id, Event.aggregate_id.in_([coupon.id, code.id])
            )
        )
    ]
    assert ("coupon.updated", {"redemption_count": 0}) in changes
    assert ("promotion_code.updated", {"times_redeemed": 0}) in changes


async def test_a_limit_never_goes_below_the_uses_made(session: AsyncSession, account_id: str) -> None:
    coupon = await coupons.create_coupon(session, account_id, discount_type="percent_off", percent_off_bp=1000)
    code = await promotion_codes.create_promotion_code(session, account_id, coupon_id=coupon.id, code="TWICE")
    for _ in range(2):
        await redemptions.redeem_promotion_code(
            session, account_id, "twice", customer_id=None, order_amount_atom=None, currency=None
        )
    for update, target in (
        (coupons.update_coupon, coupon.id),
        (promotion_codes.update_promotion_code, code.id),
    ):
        with pytest.raises(InvalidFields) as refused:
            await update(session, account_id, target, {"max_redemptions": 1})
        assert refused.value.problems[0].path == ("max_redemptions",)
        await update(session, account_id, target, {"max_redemptions": 2})
    assert await refusal(session, account_id, promotion_code="twice") == "promotion_code_exhausted"


async def _redeem_in_own_session(
    database: Database, account_id: str, text: str, barrier: asyncio.Barrier | None
) -> str:
    async with database.writing() as session:
        try:
            applied = await redemptions.resolve_discount(
                session, account_id, promotion_code=text, customer_id=None, currency="usd", lines=ORDER
            )
            if barrier is not None:
                await barrier.wait()  # every session has passed the checks before any counts
            await redemptions.redeem(session, account_id, applied, customer_id=None)
        except BusinessRuleViolation as refused:
            await session.rollback()
            return refused.code
        await session.commit()
        return "redeemed"


@pytest.mark.parametrize(("code_limit", "coupon_limit", "expected"), [(3, None, 3), (None, 2, 2)])
async def test_concurrent_redemptions_are_exact(
    database: Database,
    session: AsyncSession,
    account_id: str,
    backend: str,
    code_limit: int | None,
    coupon_limit: int | None,
    expected: int,
) -> None:
    """Ten sessions redeem at once. On PostgreSQL they all pass the checks first, then race on the counting
    ``UPDATE``; SQLite runs writers one after another (a barrier there would wait on a lock forever)."""
    coupon = await coupons.create_coupon(
        session, account_id, discount_type="percent_off", percent_off_bp=1000, max_redemptions=coupon_limit
    )
    await promotion_codes.create_promotion_code(
        session, account_id, coupon_id=coupon.id, code="RUSH", max_redemptions=code_limit
    )
    await session.commit()
    barrier = asyncio.Barrier(10) if backend == "postgresql" else None
    outcomes = await asyncio.gather(*(_redeem_in_own_session(database, account_id, "rush", barrier) for _ in range(10)))
    exhausted = "promotion_code_exhausted" if code_limit is not None else "coupon_exhausted"
    assert sorted(outcomes) == sorted(["redeemed"] * expected + [exhausted] * (10 - expected))
    # Columns, not objects: read from the database, not from this session's identity map.
    assert await session.scalar(select(Coupon.times_redeemed).where(Coupon.id == coupon.id)) == expected
    assert (
        await session.scalar(select(PromotionCode.times_redeemed).where(PromotionCode.coupon_id == coupon.id))
        == expected
    )
    assert (
        await session.scalar(select(func.count()).select_from(Redemption).where(Redemption.coupon_id == coupon.id))
        == expected
    )


async def test_concurrent_creates_of_one_code_make_one(
    database: Database, session: AsyncSession, account_id: str
) -> None:
    coupon = await coupons.create_coupon(session, account_id, discount_type="percent_off", percent_off_bp=1000)
    await session.commit()

    async def create(text: str) -> str:
        async with database.writing() as own:
            try:
                await promotion_codes.create_promotion_code(own, account_id, coupon_id=coupon.id, code=text)
            except Conflict as taken:
                await own.rollback()
                return taken.code
            await own.commit()
            return "created"

    outcomes = await asyncio.gather(*(create(text) for text in ["Race", "RACE", "race", "rAcE"] * 2))
    assert sorted(outcomes) == ["created"] + ["promotion_code_taken"] * 7
    count = select(func.count()).select_from(PromotionCode).where(PromotionCode.account_id == account_id)
    assert await session.scalar(count) == 1
