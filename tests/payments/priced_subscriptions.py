"""Subscriptions to any price at any quantity, renewing on a card saved at the simulator: made as checkout completion
makes them (:func:`create_from_checkout`), their customer on a test clock or on none. The tiers here are 1-10,
11-20 and 21 and up, the last with a flat amount."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import Price
from checkstand.checkout import service as checkout_service
from checkstand.customers import service as customers
from checkstand.db import Database
from checkstand.subscriptions import service as subscriptions
from checkstand.test_clocks import service as test_clocks
from tests.invoices.factory import Billing, saved_card

TIERS: Final[list[dict[str, Any]]] = [
    {"units_upto": 10, "unit_amount_atom": 1000, "flat_amount_atom": 0},
    {"units_upto": 20, "unit_amount_atom": 800, "flat_amount_atom": 0},
    {"units_upto": None, "unit_amount_atom": 500, "flat_amount_atom": 250},
]


async def monthly_price(
    session: AsyncSession,
    account_id: str,
    product_id: str,
    *,
    mode: str | None = None,
    unit_amount_atom: int | None = None,
    quantity_divisor: int | None = None,
    currency: str = "usd",
    interval: str = "month",
) -> Price:
    """A monthly price of the product: tiered by :data:`TIERS` in ``mode``, else per unit (or per package)."""
    return await catalog.create_price(
        session,
        account_id,
        product_id=product_id,
        currency=currency,
        unit_amount_atom=unit_amount_atom,
        recurring_interval=interval,
        billing_scheme="tiered" if mode else "per_unit",
        tiers_mode=mode,
        tiers=TIERS if mode else None,
        quantity_divisor=quantity_divisor,
    )


async def subscribed(
    database: Database,
    session: AsyncSession,
    account_id: str,
    price_id: str,
    quantity: int,
    *,
    frozen_time: datetime | None = None,
    processor: tuple[str, str] | None = None,
) -> Billing:
    """A committed subscription to ``quantity`` of the price on a saved card (``processor``'s when given, else a new
    simulator connection's), its customer on a clock at ``frozen_time`` (on none when it is None)."""
    processor_id, reference = processor or await saved_card(database, session, account_id)
    clock_id = None
    if frozen_time is not None:
        clock_id = (await test_clocks.create_test_clock(session, account_id, frozen_time=frozen_time, name="t")).id
    customer = await customers.create_customer(session, account_id, email="ada@example.test", test_clock_id=clock_id)
    checkout = await checkout_service.create_session(
        session,
        account_id,
        checkout_service.NewCheckoutSession(
            success_url="https://shop.example/ok",
            return_url="https://shop.example/cart",
            line_items=[checkout_service.LineItemSpec(price_id, quantity=quantity)],
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
