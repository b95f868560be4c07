"""A customer half way through a month on one plan, and a checkout for another plan of the family: a plan-change
session, made through the services as the API makes one. Shared by the page tests and the browser test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import CheckoutSession
from checkstand.customers import service as customers
from checkstand.payments import plan_change_sessions
from checkstand.subscriptions import service as subscriptions
from checkstand.test_clocks import service as test_clocks

START: Final = datetime(2028, 1, 31, 10, 0, tzinfo=UTC)  # the period runs to February 29: 29 days
NOW: Final = START + timedelta(days=15)  # 14 of the period's 29 days are left


@dataclass(frozen=True)
class Subscribed:
    customer_id: str
    subscription_id: str


async def subscribed_mid_period(session: AsyncSession, account_id: str, price_id: str) -> Subscribed:
    """A customer on a test clock who subscribed to ``price_id`` at :data:`START`, the clock moved to :data:`NOW`
    (nothing falls due in between, so it is ready at once). Not committed."""
    clock = await test_clocks.create_test_clock(session, account_id, frozen_time=START, name="mid-period")
    customer = await customers.create_customer(session, account_id, email="ada@example.test", test_clock_id=clock.id)
    bought = await checkout_service.create_session(
        session,
        account_id,
        checkout_service.NewCheckoutSession(
            success_url="https://shop.test/ok",
            return_url="https://shop.test/back",
            line_items=[checkout_service.LineItemSpec(price_id)],
            customer_id=customer.id,
        ),
    )
    subscription = await subscriptions.create_from_checkout(
        session, bought, tier=0, customer_id=customer.id, payment_method_reference=None, processor_id=None
    )
    assert subscription is not None
    await test_clocks.advance_test_clock(session, account_id, clock.id, NOW)
    assert await test_clocks.mark_ready(session, clock)
    return Subscribed(customer.id, subscription.id)


async def plan_change_session(
    session: AsyncSession, account_id: str, customer_id: str, price_id: str, success_url: str
) -> CheckoutSession:
    """A checkout of ``price_id`` for the customer: it changes the customer's subscription. Not committed."""
    return await checkout_service.create_session(
        session,
        account_id,
        checkout_service.NewCheckoutSession(
            success_url=success_url,
            return_url="https://shop.test/back",
            line_items=[checkout_service.LineItemSpec(price_id)],
            customer_id=customer_id,
        ),
        plan_change=plan_change_sessions.price_session,
    )
