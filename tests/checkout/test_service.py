"""Checkout session rules at the service level: expiry by the worker, and redirects."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import lifecycle as checkout_lifecycle
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import CheckoutSession
from checkstand.core.clock import FrozenClock
from checkstand.db import Database
from checkstand.events.models import Event
from tests.shop import Shop


def _spec(shop: Shop, hours: int = 1) -> checkout_service.NewCheckoutSession:
    return checkout_service.NewCheckoutSession(
        success_url="https://shop.example/ok?cs={CHECKOUT_SESSION_ID}",
        return_url="https://shop.example/cart",
        line_items=[checkout_service.LineItemSpec(shop.tshirt)],
        expires_in_hours=hours,
    )


async def _expired_events(session: AsyncSession) -> int:
    query = select(func.count()).select_from(Event).where(Event.type == "checkout_session.expired")
    return int(await session.scalar(query) or 0)


async def test_success_url_gets_the_session_id(session: AsyncSession, shop: Shop) -> None:
    checkout = await checkout_service.create_session(session, shop.account_id, _spec(shop))
    assert checkout_service.success_redirect_url(checkout) == f"https://shop.example/ok?cs={checkout.id}"


async def test_worker_records_each_expiry_once(
    database: Database, session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    for hours in (1, 1, 1, 5):
        await checkout_service.create_session(session, shop.account_id, _spec(shop, hours))
    await session.commit()
    frozen_clock.advance(timedelta(hours=1))

    async def run_job() -> int:
        async with database.writing() as job_session:
            done = await checkout_lifecycle.expire_open_sessions(job_session)
            await job_session.commit()
            return done

    # Three workers at once (on PostgreSQL they really overlap; SQLite serialises them), then again: 3 in all.
    results = await asyncio.gather(run_job(), run_job(), run_job())
    assert sum(results) == 3
    assert await run_job() == 0
    assert await _expired_events(session) == 3
    statuses = (await session.scalars(select(CheckoutSession.status).order_by(CheckoutSession.expires_at))).all()
    assert statuses == ["expired", "expired", "expired", "open"]
    await session.rollback()
