"""Payment link rules at the service level: terms checked by the checkout service's rules, a visit's session made
from the link and recorded with it, the per-address visit limit over its window, and a link whose prices can no
longer be sold opening nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import CheckoutSession
from checkstand.core.clock import FrozenClock
from checkstand.core.errors import Conflict, InvalidFields, RateLimited
from checkstand.core.pagination import PageParams
from checkstand.events.models import Event
from checkstand.payment_links import service as payment_links
from tests.shop import Shop

LIMIT = payment_links.VisitLimit(window=timedelta(minutes=10), max_visits_per_ip=2)


def _spec(*prices: str, **fields: object) -> payment_links.NewPaymentLink:
    return payment_links.NewPaymentLink(
        success_url="https://shop.example/ok",
        line_items=[checkout_service.LineItemSpec(price) for price in prices],
        **fields,  # type: ignore[arg-type]
    )


async def _sessions(session: AsyncSession, account_id: str) -> int:
    query = select(func.count()).select_from(CheckoutSession).where(CheckoutSession.account_id == account_id)
    return int(await session.scalar(query) or 0)


async def test_terms_are_refused_as_a_session_s_are_and_nothing_is_stored(session: AsyncSession, shop: Shop) -> None:
    with pytest.raises(InvalidFields) as refused:
        await payment_links.create_link(session, shop.account_id, _spec(shop.tshirt, shop.euro))
    assert [(p.path, p.type) for p in refused.value.problems] == [(("line_items", 1, "price_id"), "currency_mismatch")]
    with pytest.raises(InvalidFields) as refused:
        await payment_links.create_link(session, shop.account_id, _spec(shop.archived))
    assert refused.value.problems[0].path == ("line_items", 0, "price_id")
    with pytest.raises(InvalidFields) as refused:
        await payment_links.create_link(session, shop.account_id, _spec(shop.tshirt, mode="subscription"))
    assert refused.value.problems[0].path == ("mode",)
    with pytest.raises(InvalidFields) as refused:
        await payment_links.create_link(session, shop.account_id, _spec(shop.tshirt, coupon_id="coupon_missing"))
    assert refused.value.problems[0].path == ("coupon_id",)
    assert await _sessions(session, shop.account_id) == 0


async def test_a_visit_sells_the_link_s_terms_and_is_listed_with_it(session: AsyncSession, shop: Shop) -> None:
    link = await payment_links.create_link(
        session, shop.account_id, _spec(shop.monthly, promotion_code=shop.percent_code, metadata={"from": "email"})
    )
    assert link.mode == "subscription"
    checkout = await payment_links.open_visit(session, link.secure_token, "203.0.113.7", LIMIT)
    assert [item.price_id for item in checkout.line_items] == [shop.monthly]
    assert checkout.promotion_code is not None
    assert checkout.amount_discount_atom > 0
    assert checkout.session_metadata == {"from": "email"}
    assert checkout.return_url == "https://shop.example"
    listed = await payment_links.list_sessions(session, shop.account_id, link.id, PageParams())
    assert [c.id for c in listed.items] == [checkout.id]
    assert await payment_links.link_of_session(session, shop.account_id, checkout.id) == link.id
    types = await session.scalars(select(Event.type).where(Event.aggregate_id == link.id))
    assert list(types) == ["payment_link.created"]


async def test_the_visit_limit_counts_one_address_over_its_window(
    session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    link = await payment_links.create_link(session, shop.account_id, _spec(shop.tshirt))
    for _ in range(LIMIT.max_visits_per_ip):
        await payment_links.open_visit(session, link.secure_token, "203.0.113.7", LIMIT)
    with pytest.raises(RateLimited):
        await payment_links.open_visit(session, link.secure_token, "203.0.113.7", LIMIT)
    await payment_links.open_visit(session, link.secure_token, "198.51.100.1", LIMIT)
    frozen_clock.advance(LIMIT.window + timedelta(seconds=1))
    await payment_links.open_visit(session, link.secure_token, "203.0.113.7", LIMIT)
    assert await _sessions(session, shop.account_id) == LIMIT.max_visits_per_ip + 2


async def test_a_link_whose_price_was_archived_opens_nothing_and_can_t_be_reactivated(
    session: AsyncSession, shop: Shop
) -> None:
    link = await payment_links.create_link(session, shop.account_id, _spec(shop.tshirt))
    await payment_links.deactivate_link(session, shop.account_id, link.id)
    with pytest.raises(Conflict) as inactive:
        await payment_links.open_visit(session, link.secure_token, None, LIMIT)
    assert inactive.value.code == payment_links.INACTIVE
    await catalog.update_price(session, shop.account_id, shop.tshirt, {"is_active": False})
    with pytest.raises(InvalidFields) as refused:
        await payment_links.update_link(session, shop.account_id, link.id, {"is_active": True})
    assert refused.value.problems[0].path == ("line_items", 0, "price_id")
    link.is_active = True
    with pytest.raises(Conflict) as unavailable:
        await payment_links.open_visit(session, link.secure_token, None, LIMIT)
    assert unavailable.value.code == payment_links.UNAVAILABLE
    assert await _sessions(session, shop.account_id) == 0
