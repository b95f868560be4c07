"""A subscription created through the API without a trial: its first period is invoiced and charged on the saved
card at once, through the simulator's network, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.clock import FrozenClock
from checkstand.db import Database
from checkstand.invoices.models import Invoice
from checkstand.payments import saved_methods, subscription_start
from checkstand.processors.base import Outcome
from checkstand.processors.models import SimulatorCharge
from checkstand.subscriptions import creation
from tests.payments import flow
from tests.shop import Shop
from tests.subscriptions.factory import new_subscription


async def _start(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock, number: str
) -> tuple[str, str]:
    await flow.simulator(session, shop.account_id)
    customer_id = (await new_subscription(session, shop.account_id, [shop.yearly])).customer_id
    gateway = flow.gateway(database)
    method = await saved_methods.create_credit_card(
        session,
        gateway,
        shop.account_id,
        customer_id=customer_id,
        number=number,
        exp_month="12",
        exp_year="2099",
        cvc="123",
    )
    await session.commit()
    spec = creation.NewSubscription(customer_id=customer_id, items=[(shop.yearly, 3)], period_start=frozen_clock.now())
    subscription = await subscription_start.start_subscription(gateway, shop.account_id, spec)
    assert subscription.default_payment_method_id == method.id
    return subscription.id, subscription.status


async def charged(session: AsyncSession, account_id: str) -> list[int]:
    """The amounts the simulator's network took (a declined card leaves a row too, but takes nothing)."""
    rows = await session.scalars(
        select(SimulatorCharge.amount_atom).where(
            SimulatorCharge.account_id == account_id,
            SimulatorCharge.amount_atom > 0,
            SimulatorCharge.status == Outcome.SUCCEEDED,
        )
    )
    return list(rows)


async def test_without_a_trial_the_first_period_is_charged_and_the_subscription_active(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock
) -> None:
    subscription_id, status = await _start(session, database, shop, frozen_clock, flow.GOOD_CARD)

    assert status == "active"
    assert await charged(session, shop.account_id) == [3 * 9000]
    invoice = await session.scalar(select(Invoice).where(Invoice.subscription_id == subscription_id))
    assert invoice is not None
    assert (invoice.billing_reason, invoice.status, invoice.total_atom) == ("subscription_create", "paid", 27_000)


async def test_a_declined_first_charge_leaves_it_incomplete(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock
) -> None:
    subscription_id, status = await _start(session, database, shop, frozen_clock, "4000000000000341")

    assert status == "incomplete"
    assert await charged(session, shop.account_id) == []
    invoices = await session.scalar(
        select(func.count())
        .select_from(Invoice)
        .where(Invoice.subscription_id == subscription_id, Invoice.status == "paid")
    )
    assert invoices == 0


async def test_activation_waits_for_the_trials_end(
    session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.monthly])
    subscription_id = subscription.id
    early = await subscription_start.activate(session, shop.account_id, subscription_id)
    assert (early.status, early.subscription.status) == ("skipped", "trialing")
    with pytest.raises(subscription_start.TrialStillActive):
        subscription_start.require_activated(early)

    frozen_clock.advance(timedelta(days=15))
    done = await subscription_start.activate(session, shop.account_id, subscription_id)
    await session.commit()
    assert (done.status, done.subscription.status) == ("activated", "active")
    again = await subscription_start.activate(session, shop.account_id, subscription_id)
    assert (again.status, again.reason) == ("skipped", "already active")
