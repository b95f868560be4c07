"""What the plan-change tests start from: a monthly subscription whose customer is on a test clock, half-way
through its first period, and a checkout session that would change its plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import CheckoutSession
from checkstand.db import Database
from checkstand.payments import plan_change_sessions
from tests.invoices.factory import Billing, billing
from tests.payments.flow import gateway
from tests.payments.test_renewals import advance

START = datetime(2028, 1, 31, 10, 0, tzinfo=UTC)  # the period runs to February 29: 29 days
MID_PERIOD = START + timedelta(days=15)


async def mid_period(database: Database, session: AsyncSession, account_id: str) -> Billing:
    """A subscription started at ``START``, its clock advanced to ``MID_PERIOD`` (14 of 29 days left)."""
    setup = await billing(database, session, account_id, frozen_time=START)
    assert setup.clock_id is not None
    await advance(gateway(database), session, account_id, setup.clock_id, MID_PERIOD)
    return setup


async def plan_change_session(session: AsyncSession, setup: Billing, price_id: str) -> CheckoutSession:
    """A committed checkout session for the subscription's customer selling ``price_id``: a plan change."""
    checkout = await checkout_service.create_session(
        session,
        setup.account_id,
        checkout_service.NewCheckoutSession(
            success_url="https://shop.example/ok",
            return_url="https://shop.example/cart",
            line_items=[checkout_service.LineItemSpec(price_id)],
            customer_id=setup.customer_id,
        ),
        plan_change=plan_change_sessions.price_session,
    )
    await session.commit()
    return checkout
