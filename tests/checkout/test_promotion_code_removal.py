"""A promotion code the customer applied can be taken off again before paying: the session is re-priced without it
and says so in an event; a discount the merchant gave by coupon id is not the customer's to remove."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import service as checkout
from checkstand.events.models import Event
from tests.payments import flow
from tests.shop import Shop


async def test_a_removed_code_re_prices_the_session_and_records_the_change(session: AsyncSession, shop: Shop) -> None:
    opened = await flow.open_session(session, shop.account_id, [shop.tshirt])
    locked = await checkout.lock_open_session(session, opened.secure_token)
    await checkout.apply_promotion_code(session, locked, shop.percent_code)
    assert (locked.amount_discount_atom, locked.amount_total_atom) == (200, 1799)

    await checkout.remove_promotion_code(session, locked)

    assert (locked.promotion_code, locked.coupon_id, locked.discount) == (None, None, None)
    assert (locked.amount_subtotal_atom, locked.amount_discount_atom, locked.amount_total_atom) == (1999, 0, 1999)
    assert locked.amount_due_today_atom == 1999
    updates = (
        await session.scalars(
            select(Event).where(Event.account_id == shop.account_id, Event.type == "checkout_session.updated")
        )
    ).all()
    assert len(updates) == 2  # applied, then removed
    # Another code can be applied now: the session no longer "already has a discount".
    await checkout.apply_promotion_code(session, locked, shop.percent_code)
    assert locked.amount_total_atom == 1799


async def test_a_coupon_the_merchant_gave_stays(session: AsyncSession, shop: Shop) -> None:
    created = await checkout.create_session(
        session,
        shop.account_id,
        checkout.NewCheckoutSession(
            success_url="https://shop.test/ok",
            return_url="https://shop.test/back",
            line_items=[checkout.LineItemSpec(price_id=shop.tshirt)],
            coupon_id=shop.coupon_all,
        ),
    )
    locked = await checkout.lock_open_session(session, created.secure_token)

    await checkout.remove_promotion_code(session, locked)

    assert (locked.coupon_id, locked.amount_total_atom) == (shop.coupon_all, 0)
