"""Discounts and credit on plan changes through the ``payment-kit`` SDK against a real server, on a test clock, on
both backends: a subscription with a 20 % forever coupon upgrades for 80 % of the undiscounted net, and a customer's
credit balance pays an ``always_invoice`` upgrade, or a checkout that upgrades, first (only the rest is charged, or
nothing, with no processor call, when it covers all).

Basic is $10 and Pro $30 a month over a 30-day April: 15 days in, an upgrade nets $10 before any discount.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from payment_kit.types import CheckoutSessionLineItemCreate, UpdateSubscriptionItemPayload

from checkstand.customers import service as customers
from tests.compat import test_paymentkit_plan_change_checkout as checkouts
from tests.compat import test_paymentkit_plan_changes as changes
from tests.compat.billing import Merchant, card, merchant
from tests.compat.test_paymentkit_plan_changes import APRIL, MAY, MID_APRIL, item_id, prices
from tests.invoices.factory import SAVES_THEN_DECLINES
from tests.payments.flow import GOOD_CARD
from tests.support import Server, connect_url


def subscribe(shop: Merchant, price_id: str, *, coupon_id: str | None = None) -> tuple[str, str, str]:
    """A customer on a clock at April 1st who pays ``price_id`` (with ``coupon_id``) through the public checkout;
    answers the clock's, the customer's and the subscription's ids."""
    clock_id = shop._http("POST", "/test-clocks/", {"name": "April", "frozen_time": APRIL.isoformat()})["id"]
    customer = shop.client.customers.create_customer(
        shop.account_id,
        email="ada@example.com",
        request_options={"additional_body_parameters": {"test_clock_id": clock_id}},
    )
    checkout = shop.client.checkout_sessions.create_checkout_session(
        shop.account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[CheckoutSessionLineItemCreate(price_id=price_id)],
        customer_id=customer.id,
        coupon_id=coupon_id,
    )
    confirmed = httpx.post(
        f"{shop.server.base_url}/api/public/checkout/{checkout.secure_token}/confirm",
        json={"payment_method": card(GOOD_CARD)},
        timeout=60,
    )
    assert confirmed.json()["state"] == "succeeded", confirmed.text
    [subscription] = shop.client.subscriptions.list_subscriptions_by_customer(shop.account_id, customer.id)
    return clock_id, customer.id, subscription.id


def give_credit(shop: Merchant, customer_id: str, amount_atom: int) -> None:
    """A credit balance, as a downgrade leaves one: written through the customers service."""

    async def add() -> None:
        database = connect_url(shop.server.database_url)
        try:
            async with database.writing() as session:
                customer = await customers.get_customer(session, shop.account_id, customer_id)
                await customers.add_credit(session, customer, amount_atom, "usd")
                await session.commit()
        finally:
            await database.dispose()

    asyncio.run(add())


def balance(shop: Merchant, customer_id: str) -> int:
    held = shop.client.customers.get_customer(shop.account_id, customer_id).credit_balance
    return 0 if held is None else held.amount_atom


def test_an_upgrade_with_a_forever_twenty_percent_coupon_charges_eighty_percent_of_the_net(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    coupon = shop.client.coupons.create_coupon(
        shop.account_id, discount_type="percent_off", percent_off=20, duration="forever"
    )
    clock_id, _, subscription_id = subscribe(shop, price["basic"], coupon_id=coupon.id)
    assert shop.charged() == [800]
    shop.advance(clock_id, MID_APRIL)
    item = item_id(shop, subscription_id)

    changed = shop.client.subscriptions.update_subscription_items(
        shop.account_id,
        subscription_id,
        items=[UpdateSubscriptionItemPayload(id=item, price_id=price["pro"])],
        proration_behavior="always_invoice",
    )

    # $15 of Pro less $5 of Basic, both 20 % off: $12 - $4.
    assert (changed.proration_amount_atom, changed.payment_status) == (800, "succeeded")
    assert shop.charged() == [800, 800]
    invoice = shop.client.invoices.get_invoice(shop.account_id, changed.invoice_id or "")
    assert sorted(int(item.amount) for item in invoice.items or []) == [-400, 1200]
    # The renewal bills Pro with the coupon, as always.
    shop.advance(clock_id, MAY + timedelta(hours=1))
    assert shop.charged() == [800, 800, 2400]


@pytest.mark.parametrize(("credit", "charged", "left"), [(300, [1000, 700], 0), (1500, [1000], 500)])
def test_an_always_invoice_upgrade_uses_the_credit_balance_before_charging(
    server: Server, credit: int, charged: list[int], left: int
) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, customer_id, subscription_id = subscribe(shop, price["basic"])
    give_credit(shop, customer_id, credit)
    shop.advance(clock_id, MID_APRIL)

    changed = shop.client.subscriptions.update_subscription_items(
        shop.account_id,
        subscription_id,
        items=[UpdateSubscriptionItemPayload(id=item_id(shop, subscription_id), price_id=price["pro"])],
        proration_behavior="always_invoice",
    )

    assert changed.proration_amount_atom == 1000
    assert changed.payment_status == ("succeeded" if len(charged) > 1 else None)
    assert shop.charged() == charged
    assert balance(shop, customer_id) == left
    invoice = shop.client.invoices.get_invoice(shop.account_id, changed.invoice_id or "")
    assert (invoice.status, invoice.total_amount_atom) == ("paid", 1000 - min(credit, 1000))
    subscription = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id)
    assert [item.price.id for item in subscription.items] == [price["pro"]]


@pytest.mark.parametrize(("credit", "charged", "left"), [(300, [1000, 700], 0), (1500, [1000], 500)])
def test_a_checkout_that_upgrades_uses_the_credit_balance_before_charging(
    server: Server, credit: int, charged: list[int], left: int
) -> None:
    shop = merchant(server)
    shop.simulator()
    basic, pro = checkouts.plans(shop)
    clock_id, customer_id = checkouts.subscribe(shop, basic)
    give_credit(shop, customer_id, credit)
    shop.advance(clock_id, MID_APRIL)

    upgrade = checkouts.checkout(shop, pro, customer_id)
    assert upgrade.amount_due_today_atom == 1000 - min(credit, 1000)
    checkouts.pay(shop, upgrade)

    assert shop.charged() == charged
    assert balance(shop, customer_id) == left
    [subscription] = shop.client.subscriptions.list_subscriptions_by_customer(shop.account_id, customer_id)
    assert [item.price.id for item in subscription.items] == [pro]


def test_a_declined_upgrade_gives_the_credit_it_used_back(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, subscription_id = changes.subscribe(shop, price["basic"], number=SAVES_THEN_DECLINES)
    customer_id = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).customer_id
    give_credit(shop, customer_id, 300)
    shop.advance(clock_id, MID_APRIL)

    changed = shop.client.subscriptions.update_subscription_items(
        shop.account_id,
        subscription_id,
        items=[UpdateSubscriptionItemPayload(id=item_id(shop, subscription_id), price_id=price["pro"])],
        proration_behavior="always_invoice",
    )

    assert changed.payment_status == "failed"
    assert shop.client.invoices.get_invoice(shop.account_id, changed.invoice_id or "").status == "void"
    assert balance(shop, customer_id) == 300
