"""Choosing between a product family's plan tiers on an open session, on both backends: what is offered, what a
change re-prices, what is refused, and a plan change racing a payment."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout import lifecycle
from checkstand.checkout import plans as checkout_plans
from checkstand.checkout import service as checkout
from checkstand.checkout.models import CheckoutSession
from checkstand.core.errors import Conflict, InvalidFields
from checkstand.db import Database
from checkstand.discounts import coupons, promotion_codes
from checkstand.events.models import Event
from checkstand.payments import flow as payment_flow
from checkstand.payments.models import SUCCEEDED, Payment
from tests.payments import flow
from tests.shop import Plans, Shop


async def offered(session: AsyncSession, opened: CheckoutSession) -> list[tuple[int, str, bool]]:
    """The one choice of the session, as ``(rank, price id, selected)``."""
    choices = await checkout_plans.plan_choices(session, opened)
    assert len(choices) == 1
    return [(option.rank, option.price.id, option.selected) for option in choices[0].options]


async def lock(session: AsyncSession, opened: CheckoutSession) -> CheckoutSession:
    return await checkout.lock_session(session, opened.account_id, opened.id)


async def test_the_family_tiers_that_bill_alike_are_offered_lowest_first(session: AsyncSession, plans: Plans) -> None:
    opened = await flow.open_session(session, plans.account_id, [plans.basic])

    # Pro is offered at its default price, not its older one; no yearly, euro or outside price is offered.
    assert await offered(session, opened) == [(1, plans.basic, True), (2, plans.pro, False), (3, plans.team, False)]


async def test_the_price_the_line_sells_is_the_one_offered_for_its_own_tier(
    session: AsyncSession, plans: Plans
) -> None:
    opened = await flow.open_session(session, plans.account_id, [plans.pro_older])

    assert await offered(session, opened) == [
        (1, plans.basic, False),
        (2, plans.pro_older, True),
        (3, plans.team, False),
    ]


async def test_an_archived_tier_is_not_offered(session: AsyncSession, plans: Plans) -> None:
    await catalog.update_product(session, plans.account_id, plans.team_product, {"is_active": False})
    opened = await flow.open_session(session, plans.account_id, [plans.basic])

    assert [rank for rank, _, _ in await offered(session, opened)] == [1, 2]


@pytest.mark.parametrize("why", ["no family", "one tier bills like this", "cascade tiers"])
async def test_no_choice_is_offered_without_a_second_plan_or_with_a_cascade(
    session: AsyncSession, plans: Plans, shop: Shop, why: str
) -> None:
    if why == "no family":
        opened = await flow.open_session(session, plans.account_id, [plans.outsider])
    elif why == "one tier bills like this":
        opened = await flow.open_session(session, plans.account_id, [plans.pro_yearly])
    else:
        opened = await flow.open_session(session, plans.account_id, [plans.team], tiers=[([plans.basic], None)])

    assert await checkout_plans.plan_choices(session, opened) == []


async def test_changing_plan_re_prices_the_line_the_discount_and_every_total(
    session: AsyncSession, plans: Plans, shop: Shop
) -> None:
    opened = await flow.open_session(session, plans.account_id, [plans.basic])
    locked = await lock(session, opened)
    await checkout.apply_promotion_code(session, locked, shop.percent_code)

    changed = await checkout_plans.change_plan(session, locked, 0, 3)
    await session.commit()

    assert changed is True
    line = checkout.tier_items(locked, 0)[0]
    assert (line.price_id, line.product_name, line.amount_subtotal_atom) == (plans.team, "Team", 4000)
    assert (locked.amount_subtotal_atom, locked.amount_discount_atom, locked.amount_total_atom) == (4000, 400, 3600)
    assert locked.tier_amounts == [3600]
    assert await offered(session, locked) == [(1, plans.basic, False), (2, plans.pro, False), (3, plans.team, True)]
    updates = await session.scalars(
        select(Event).where(Event.account_id == plans.account_id, Event.type == "checkout_session.updated")
    )
    assert len(list(updates)) == 2  # the code, then the plan


async def test_a_code_that_covers_none_of_the_new_plan_is_removed_and_the_payment_completes(
    session: AsyncSession, database: Database, plans: Plans
) -> None:
    basic = await catalog.get_price(session, plans.account_id, plans.basic)
    coupon = await coupons.create_coupon(
        session, plans.account_id, discount_type="percent_off", percent_off_bp=5_000, product_ids=[basic.product_id]
    )
    await promotion_codes.create_promotion_code(session, plans.account_id, coupon_id=coupon.id, code="BASICHALF")
    await flow.simulator(session, plans.account_id)
    opened = await flow.open_session(session, plans.account_id, [plans.basic])
    locked = await lock(session, opened)
    await checkout.apply_promotion_code(session, locked, "BASICHALF")
    assert locked.amount_total_atom == 250

    await checkout_plans.change_plan(session, locked, 0, 2)
    await session.commit()

    assert (locked.promotion_code, locked.coupon_id, locked.discount) == (None, None, None)
    assert (locked.amount_discount_atom, locked.amount_total_atom) == (0, 1500)
    # Completion would have refused the code after the charge; with it gone, paying completes.
    paid = await payment_flow.confirm(flow.gateway(database), opened.secure_token, flow.paying())
    assert paid.state == SUCCEEDED


async def test_choosing_the_plan_already_priced_changes_nothing(session: AsyncSession, plans: Plans) -> None:
    opened = await flow.open_session(session, plans.account_id, [plans.pro])

    assert await checkout_plans.change_plan(session, await lock(session, opened), 0, 2) is False
    assert opened.amount_total_atom == 1500


@pytest.mark.parametrize(("position", "rank"), [(0, 4), (1, 1), (0, -1)])
async def test_a_plan_not_offered_is_refused_and_changes_nothing(
    session: AsyncSession, plans: Plans, position: int, rank: int
) -> None:
    opened = await flow.open_session(session, plans.account_id, [plans.basic])

    with pytest.raises(InvalidFields) as refused:
        await checkout_plans.change_plan(session, await lock(session, opened), position, rank)

    assert [(p.path, p.type) for p in refused.value.problems] == [(("plan",), "plan_not_offered")]
    assert (opened.amount_total_atom, checkout.tier_items(opened, 0)[0].price_id) == (500, plans.basic)


async def test_a_closed_session_cannot_change_plan(session: AsyncSession, plans: Plans) -> None:
    opened = await flow.open_session(session, plans.account_id, [plans.basic])
    await lifecycle.expire_session(session, plans.account_id, opened.id)

    with pytest.raises(Conflict):
        await checkout_plans.change_plan(session, await lock(session, opened), 0, 2)


async def test_a_plan_change_racing_a_payment_never_charges_another_amount_than_the_plan_sold(
    session: AsyncSession, database: Database, plans: Plans
) -> None:
    """Plan changes and a payment, all at once on their own connections: whichever order the session lock gives
    them, the amount charged is the price of the plan the completed session sells."""
    await flow.simulator(session, plans.account_id)
    opened = await flow.open_session(session, plans.account_id, [plans.basic])
    token = opened.secure_token

    async def change(rank: int) -> str:
        try:
            async with database.writing() as own:
                await checkout_plans.change_plan(own, await checkout.lock_open_session(own, token), 0, rank)
                await own.commit()
        except Conflict as refused:
            return refused.code
        return "changed"

    async def pay() -> str:
        return (await payment_flow.confirm(flow.gateway(database), token, flow.paying())).state

    outcomes = await asyncio.gather(pay(), *(change(rank) for rank in (3, 2, 3, 1, 2, 3)))

    assert outcomes[0] == SUCCEEDED
    assert set(outcomes[1:]) <= {"changed", "checkout_attempt_in_progress", "checkout_session_completed"}
    async with database.reading() as fresh:
        sold = await checkout.get_session(fresh, plans.account_id, opened.id)
        paid = await fresh.scalar(select(Payment.amount_atom).where(Payment.checkout_session_id == opened.id))
        charged = await flow.charged_amounts(fresh, plans.account_id)
    line = checkout.tier_items(sold, 0)[0]
    assert charged == [paid] == [sold.amount_total_atom] == [line.unit_amount_atom]
