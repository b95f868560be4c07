"""Billing fixtures: a simulator with a card saved in its vault, and a subscription renewing on it, for a customer
on a test clock (or on none). The subscription is made as checkout completion makes it
(:func:`create_from_checkout`), with the simulator's real saved-card reference, so renewals really charge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout import service as checkout_service
from checkstand.core.ids import new_id
from checkstand.customers import service as customers
from checkstand.db import Database
from checkstand.processors.base import ChargeRequest
from checkstand.processors.models import SimulatorCharge
from checkstand.processors.simulator import SimulatorProcessor
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import Subscription
from checkstand.test_clocks import service as test_clocks
from tests.payments.flow import GOOD_CARD, PUBLIC_URL, card, simulator

SAVES_THEN_DECLINES = "4000000000000341"
AMOUNT = 900


@dataclass(frozen=True)
class Billing:
    account_id: str
    processor_id: str
    subscription_id: str
    customer_id: str
    clock_id: str | None


async def saved_card(
    database: Database, session: AsyncSession, account_id: str, number: str = GOOD_CARD
) -> tuple[str, str]:
    """A simulator connection and a card saved in its vault by a first charge: ``(processor id, simpm_...)``."""
    processor = await simulator(session, account_id)
    result = await SimulatorProcessor(database, processor, public_url=PUBLIC_URL).charge(
        ChargeRequest(new_id("save"), 100, "usd", card(number), save_payment_method=True)
    )
    assert result.saved_payment_method is not None, result
    return processor.id, result.saved_payment_method


async def billing(
    database: Database,
    session: AsyncSession,
    account_id: str,
    *,
    frozen_time: datetime | None = None,
    number: str = GOOD_CARD,
    trial_days: int = 0,
    interval: str = "month",
) -> Billing:
    """A committed monthly subscription of ``AMOUNT`` on a saved card, its customer on a clock at ``frozen_time``
    (on none when it is None)."""
    processor_id, reference = await saved_card(database, session, account_id, number)
    clock_id = None
    if frozen_time is not None:
        clock_id = (await test_clocks.create_test_clock(session, account_id, frozen_time=frozen_time, name="t")).id
    customer = await customers.create_customer(session, account_id, email="ada@example.test", test_clock_id=clock_id)
    product = await catalog.create_product(session, account_id, name="Pro")
    price = await catalog.create_price(
        session,
        account_id,
        product_id=product.id,
        currency="usd",
        unit_amount_atom=AMOUNT,
        recurring_interval=interval,
        trial_days=trial_days,
    )
    checkout = await checkout_service.create_session(
        session,
        account_id,
        checkout_service.NewCheckoutSession(
            success_url="https://shop.example/ok",
            return_url="https://shop.example/cart",
            line_items=[checkout_service.LineItemSpec(price.id)],
            customer_id=customer.id,
        ),
    )
    subscription = await subscriptions.create_from_checkout(
        session,
        checkout,
        tier=0,
        customer_id=customer.id,
        payment_method_reference=reference,
        processor_id=processor_id,
    )
    assert subscription is not None
    await session.commit()
    return Billing(account_id, processor_id, subscription.id, customer.id, clock_id)


async def simulator_charges(session: AsyncSession, account_id: str) -> int:
    return int(await session.scalar(select(func.count()).where(SimulatorCharge.account_id == account_id)) or 0)


async def fresh(session: AsyncSession, subscription_id: str) -> Subscription:
    subscription = await session.get(Subscription, subscription_id, populate_existing=True)
    assert subscription is not None
    return subscription


async def monthly_price_of_its_product(session: AsyncSession, setup: Billing, amount_atom: int) -> str:
    """Another committed monthly USD price of the product the subscription holds: a plan to change to."""
    subscription = await fresh(session, setup.subscription_id)
    price = await catalog.create_price(
        session,
        setup.account_id,
        product_id=subscription.items[0].product_id,
        currency="usd",
        unit_amount_atom=amount_atom,
        recurring_interval="month",
    )
    await session.commit()
    return price.id
