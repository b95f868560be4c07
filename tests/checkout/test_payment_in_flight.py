"""Checkout's own rules for a customer's session, on both backends: the open session a token opens, locked (404 for
an unknown token, 409 for a closed session), and no change of what is charged while a payment is in flight."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import lifecycle, plans
from checkstand.checkout import service as checkout
from checkstand.checkout.models import CheckoutSession
from checkstand.core.errors import Conflict, InvalidFields, NotFound
from checkstand.db import Database
from checkstand.payments import flow as payment_flow
from checkstand.payments import three_d_secure
from checkstand.payments.models import FAILED, REQUIRES_ACTION, SUCCEEDED, CheckoutAttempt
from checkstand.processors import simulator
from tests.payments import flow
from tests.shop import Shop

Change = Callable[[AsyncSession, Shop, CheckoutSession], Awaitable[None]]


async def _promotion_code(session: AsyncSession, shop: Shop, opened: CheckoutSession) -> None:
    locked = await checkout.lock_open_session(session, opened.secure_token)
    await checkout.apply_promotion_code(session, locked, shop.percent_code)


async def _remove_code(session: AsyncSession, shop: Shop, opened: CheckoutSession) -> None:
    await checkout.remove_promotion_code(session, await checkout.lock_open_session(session, opened.secure_token))


async def _plan(session: AsyncSession, shop: Shop, opened: CheckoutSession) -> None:
    await plans.change_plan(session, await checkout.lock_open_session(session, opened.secure_token), 0, 1)


async def _line_item(session: AsyncSession, shop: Shop, opened: CheckoutSession) -> None:
    await checkout.add_line_item(session, shop.account_id, opened.id, checkout.LineItemSpec(shop.sticker))


async def _route(session: AsyncSession, shop: Shop, opened: CheckoutSession) -> None:
    await checkout.update_route(session, shop.account_id, opened.id, None)


async def _complete(session: AsyncSession, shop: Shop, opened: CheckoutSession) -> None:
    await lifecycle.complete_without_payment(session, shop.account_id, opened.id)


async def _second_payment(session: AsyncSession, shop: Shop, opened: CheckoutSession) -> None:
    await payment_flow.begin_attempt(
        session, opened.secure_token, flow.paying(), public_url=flow.PUBLIC_URL, limits=flow.POLICY.rate_limits
    )


CHANGES: dict[str, Change] = {
    "promotion_code": _promotion_code,
    "remove_promotion_code": _remove_code,
    "plan": _plan,
    "line_item": _line_item,
    "route": _route,
    "complete_without_payment": _complete,
    "second_payment": _second_payment,
}


async def _waiting_for_a_challenge(session: AsyncSession, database: Database, shop: Shop) -> CheckoutAttempt:
    """A session whose payment waits on the customer's 3-D Secure challenge: in flight until it is decided."""
    await flow.simulator(session, shop.account_id)
    opened = await flow.open_session(session, shop.account_id, [shop.tshirt])
    attempt = await payment_flow.confirm(
        flow.gateway(database), opened.secure_token, flow.paying(flow.card(flow.THREE_DS_CARD))
    )
    assert attempt.state == REQUIRES_ACTION
    return attempt


async def _paying_attempt_id(database: Database, shop: Shop, checkout_id: str) -> str | None:
    async with database.reading() as fresh:
        return (await checkout.get_session(fresh, shop.account_id, checkout_id)).paying_attempt_id


async def test_the_open_session_of_a_token_is_locked_or_refused(session: AsyncSession, shop: Shop) -> None:
    opened = await flow.open_session(session, shop.account_id, [shop.tshirt])
    assert (await checkout.lock_open_session(session, opened.secure_token)).id == opened.id

    with pytest.raises(NotFound):
        await checkout.lock_open_session(session, "cst_unknown")
    await lifecycle.expire_session(session, shop.account_id, opened.id)
    with pytest.raises(Conflict) as closed:
        await checkout.lock_open_session(session, opened.secure_token)
    assert closed.value.code == "checkout_session_expired"


@pytest.mark.parametrize("kind", CHANGES)
async def test_nothing_that_changes_the_amount_changes_while_a_payment_is_in_flight(
    session: AsyncSession, database: Database, shop: Shop, kind: str
) -> None:
    attempt = await _waiting_for_a_challenge(session, database, shop)
    assert await _paying_attempt_id(database, shop, attempt.checkout_session_id) == attempt.id

    async with database.writing() as writing:
        opened = await checkout.get_session(writing, shop.account_id, attempt.checkout_session_id)
        with pytest.raises(Conflict) as refused:
            await CHANGES[kind](writing, shop, opened)
    assert refused.value.code == "checkout_attempt_in_progress"
    async with database.reading() as fresh:
        unchanged = await checkout.get_session(fresh, shop.account_id, attempt.checkout_session_id)
    assert (unchanged.amount_total_atom, len(unchanged.line_items), unchanged.status) == (1999, 1, "open")


async def test_a_settled_attempt_frees_the_session_for_changes(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    attempt = await _waiting_for_a_challenge(session, database, shop)
    async with database.writing() as writing:
        charge = await simulator.find_challenge(writing, str(attempt.action_url).rsplit("/", 1)[1])
        assert charge is not None
        await simulator.decide_challenge(writing, charge, approve=False)
        await writing.commit()
    opened = await checkout.get_session(session, shop.account_id, attempt.checkout_session_id)
    await session.commit()

    failed = await three_d_secure.resume(flow.gateway(database), opened.secure_token, attempt.id)

    assert failed.state == FAILED
    assert await _paying_attempt_id(database, shop, opened.id) is None
    async with database.writing() as writing:
        await _line_item(writing, shop, opened)
        await writing.commit()
    paid = await payment_flow.confirm(flow.gateway(database), opened.secure_token, flow.paying())
    assert paid.state == SUCCEEDED
    assert await _paying_attempt_id(database, shop, opened.id) is None


async def test_a_line_added_is_checked_as_the_session_was_at_creation(session: AsyncSession, shop: Shop) -> None:
    """One currency, and one billing interval for recurring prices, named at the added line's price."""
    one_time = await flow.open_session(session, shop.account_id, [shop.tshirt])
    monthly = await flow.open_session(session, shop.account_id, [shop.monthly])

    for opened, price, code in (
        (one_time, shop.euro, "currency_mismatch"),
        (monthly, shop.yearly, "interval_mismatch"),
    ):
        with pytest.raises(InvalidFields) as refused:
            await checkout.add_line_item(session, shop.account_id, opened.id, checkout.LineItemSpec(price))
        assert [(problem.path, problem.type) for problem in refused.value.problems] == [(("price_id",), code)]
    added = await checkout.add_line_item(session, shop.account_id, monthly.id, checkout.LineItemSpec(shop.sticker))
    assert added.price_id == shop.sticker
