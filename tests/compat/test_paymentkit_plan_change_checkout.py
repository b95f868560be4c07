"""Checkout that upgrades, through the ``payment-kit`` SDK against a real server, on a test clock, on both backends:
the same ``create_checkout_session`` call a new purchase makes, for a customer who already subscribes to a plan of
the family, changes that subscription. Paid through the public checkout API as the hosted page pays it.

A 30-day April: Basic is $10 and Pro $30 a month. Each amount is computed here from the instants, to the second and
rounded half-even once per line, as the engine must."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Final

import httpx
from payment_kit.types import CheckoutSession, CheckoutSessionLineItemCreate

from checkstand.catalog import service as catalog
from checkstand.core.money import divide_half_even
from tests.compat.billing import Merchant, card, merchant
from tests.payments.flow import GOOD_CARD
from tests.support import Server, connect_url

APRIL: Final = datetime(2028, 4, 1, 10, 0, tzinfo=UTC)
MAY: Final = datetime(2028, 5, 1, 10, 0, tzinfo=UTC)
BASIC: Final = 1000
PRO: Final = 3000


def prorated(amount_atom: int, at: datetime) -> int:
    """``amount_atom`` for the rest of April from ``at``."""
    return divide_half_even(amount_atom * int((MAY - at).total_seconds()), int((MAY - APRIL).total_seconds()))


def plans(shop: Merchant) -> tuple[str, str]:
    """Basic and Pro, monthly, ranked in a product family: Basic's price and Pro's."""

    async def create() -> tuple[str, str]:
        database = connect_url(shop.server.database_url)
        try:
            async with database.writing() as session:
                made = []
                for name, amount in [("Basic", BASIC), ("Pro", PRO)]:
                    product = await catalog.create_product(session, shop.account_id, name=name)
                    price = await catalog.create_price(
                        session,
                        shop.account_id,
                        product_id=product.id,
                        currency="usd",
                        unit_amount_atom=amount,
                        recurring_interval="month",
                    )
                    made.append((product.id, price.id))
                hierarchy = [(product_id, rank) for rank, (product_id, _) in enumerate(made, start=1)]
                await catalog.create_family(session, shop.account_id, name="Plans", hierarchy=hierarchy)
                await session.commit()
                return made[0][1], made[1][1]
        finally:
            await database.dispose()

    return asyncio.run(create())


def checkout(shop: Merchant, price_id: str, customer_id: str) -> CheckoutSession:
    return shop.client.checkout_sessions.create_checkout_session(
        shop.account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[CheckoutSessionLineItemCreate(price_id=price_id)],
        customer_id=customer_id,
    )


def pay(shop: Merchant, session: CheckoutSession) -> None:
    confirmed = httpx.post(
        f"{shop.server.base_url}/api/public/checkout/{session.secure_token}/confirm",
        json={"payment_method": card(GOOD_CARD)},
        timeout=60,
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "succeeded", confirmed.text


def subscribe(shop: Merchant, price_id: str) -> tuple[str, str]:
    """A customer on a clock at April 1st who buys ``price_id`` through a checkout: the clock's id and the
    customer's."""
    clock_id = shop._http("POST", "/test-clocks/", {"name": "April", "frozen_time": APRIL.isoformat()})["id"]
    customer = shop.client.customers.create_customer(
        shop.account_id,
        email="ada@example.com",
        request_options={"additional_body_parameters": {"test_clock_id": clock_id}},
    )
    pay(shop, checkout(shop, price_id, customer.id))
    return clock_id, customer.id


def test_a_checkout_for_pro_half_way_through_basic_charges_the_prorated_difference_and_renews_at_pro(
    server: Server,
) -> None:
    shop = merchant(server)
    shop.simulator()
    basic, pro = plans(shop)
    clock_id, customer_id = subscribe(shop, basic)
    at = APRIL + timedelta(days=15)
    shop.advance(clock_id, at)
    difference = prorated(PRO, at) - prorated(BASIC, at)
    assert difference == 1000

    upgrade = checkout(shop, pro, customer_id)
    assert upgrade.amount_due_today_atom == difference
    pay(shop, upgrade)

    assert shop.charged() == [BASIC, difference]
    [subscription] = shop.client.subscriptions.list_subscriptions_by_customer(shop.account_id, customer_id)
    assert [(item.price.id, item.quantity) for item in subscription.items] == [(pro, 1)]
    assert (subscription.current_period_start, subscription.current_period_end) == (APRIL, MAY)
    assert shop.client.checkout_sessions.get_checkout_session(shop.account_id, upgrade.id).completed

    shop.advance(clock_id, MAY + timedelta(hours=1))
    assert shop.charged() == [BASIC, difference, PRO]
    renewal = shop.invoices(subscription.id)[-1]
    assert (renewal.period_start, renewal.total_amount_atom, renewal.status) == (MAY, PRO, "paid")


def test_a_downgrade_checkout_charges_nothing_now_and_its_credit_pays_part_of_the_next_invoice(
    server: Server,
) -> None:
    shop = merchant(server)
    shop.simulator()
    basic, pro = plans(shop)
    clock_id, customer_id = subscribe(shop, pro)
    at = APRIL + timedelta(days=20, hours=5, seconds=7)  # to the second: the rounding is the engine's
    shop.advance(clock_id, at)
    credit = prorated(PRO, at) - prorated(BASIC, at)

    downgrade = checkout(shop, basic, customer_id)
    assert downgrade.amount_due_today_atom == 0
    pay(shop, downgrade)

    assert [amount for amount in shop.charged() if amount] == [PRO]
    [subscription] = shop.client.subscriptions.list_subscriptions_by_customer(shop.account_id, customer_id)
    assert [item.price.id for item in subscription.items] == [basic]
    balance = shop.client.customers.get_customer(shop.account_id, customer_id).credit_balance
    assert balance is not None
    assert (balance.amount_atom, balance.currency) == (credit, "usd")

    shop.advance(clock_id, MAY + timedelta(hours=1))
    renewal = shop.invoices(subscription.id)[-1]
    assert (renewal.period_start, renewal.total_amount_atom, renewal.status) == (MAY, BASIC - credit, "paid")
    assert [amount for amount in shop.charged() if amount] == [PRO, BASIC - credit]
    balance = shop.client.customers.get_customer(shop.account_id, customer_id).credit_balance
    assert balance is not None
    assert balance.amount_atom == 0
