"""Metered billing fixtures: a subscription holding a metered price (and, when asked, a licensed base plan beside
it), made as checkout completion makes it, on a card saved in the simulator's vault so renewals really charge; its
customer on a test clock, or on none (the real time, which a test may freeze)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout import service as checkout_service
from checkstand.customers import service as customers
from checkstand.db import Database
from checkstand.subscriptions import service as subscriptions
from checkstand.test_clocks import service as test_clocks
from tests.invoices.factory import saved_card

METER: Final = "api_calls"
START: Final = datetime(2028, 1, 31, 10, 0, tzinfo=UTC)
END: Final = datetime(2028, 2, 29, 10, 0, tzinfo=UTC)
# Periods are anchored to the first day: the one after February's ends on March 31.
NEXT_END: Final = datetime(2028, 3, 31, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Metered:
    account_id: str
    subscription_id: str
    customer_id: str
    clock_id: str | None
    price_id: str


async def metered_price(
    session: AsyncSession,
    account_id: str,
    *,
    aggregation: str = "sum",
    unit_amount_atom: int = 5,
    tiers: Sequence[Mapping[str, Any]] | None = None,
    quantity_divisor: int | None = None,
    trial_days: int = 0,
    meter: str = METER,
) -> str:
    """A monthly USD metered price: per unit at ``unit_amount_atom``, or graduated by ``tiers``."""
    product = await catalog.create_product(session, account_id, name="API")
    price = await catalog.create_price(
        session,
        account_id,
        product_id=product.id,
        currency="usd",
        unit_amount_atom=None if tiers else unit_amount_atom,
        recurring_interval="month",
        usage_type="metered",
        metered_id=meter,
        usage_aggregation=aggregation,
        billing_scheme="tiered" if tiers else "per_unit",
        tiers_mode="graduated" if tiers else None,
        tiers=tiers,
        quantity_divisor=quantity_divisor,
        trial_days=trial_days,
    )
    return price.id


async def metered_billing(
    database: Database,
    session: AsyncSession,
    account_id: str,
    *,
    frozen_time: datetime | None = START,
    base_amount_atom: int | None = None,
    **price: Any,
) -> Metered:
    """A committed subscription to a metered price (``price``: :func:`metered_price`'s terms), with a licensed
    monthly base plan of ``base_amount_atom`` beside it when given; its customer on a clock at ``frozen_time``."""
    processor_id, reference = await saved_card(database, session, account_id)
    clock_id = None
    if frozen_time is not None:
        clock_id = (await test_clocks.create_test_clock(session, account_id, frozen_time=frozen_time, name="t")).id
    customer = await customers.create_customer(session, account_id, email="ada@example.test", test_clock_id=clock_id)
    price_id = await metered_price(session, account_id, **price)
    lines = [checkout_service.LineItemSpec(price_id)]
    if base_amount_atom is not None:
        base = await catalog.create_product(session, account_id, name="Base plan")
        base_price = await catalog.create_price(
            session,
            account_id,
            product_id=base.id,
            currency="usd",
            unit_amount_atom=base_amount_atom,
            recurring_interval="month",
        )
        lines.insert(0, checkout_service.LineItemSpec(base_price.id))
    checkout = await checkout_service.create_session(
        session,
        account_id,
        checkout_service.NewCheckoutSession(
            success_url="https://shop.example/ok",
            return_url="https://shop.example/cart",
            line_items=lines,
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
    return Metered(account_id, subscription.id, customer.id, clock_id, price_id)
