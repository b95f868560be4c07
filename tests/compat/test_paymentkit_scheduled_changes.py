"""Plan changes at the period's end through the ``payment-kit`` SDK against a real server, on a test clock, on both
backends: scheduled by ``update_subscription_items`` (``effective: period_end``) or by a checkout session created with
``plan_change_timing: period_end``. Nothing is charged when scheduling; the subscription's items show the plan
leaving (``drop_at_end``) and the one coming (``start_at_end``); the renewal bills and applies the new plan; a later
change replaces the scheduled one. And the preview with proposed items shows the next invoice as it would be.

Pro is $30 and Basic $10 a month (``prices`` of the plan-change tests), a 30-day April period.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
from payment_kit.core.api_error import ApiError
from payment_kit.types import CheckoutSessionLineItemCreate, SubscriptionResponse, UpdateSubscriptionItemPayload

from checkstand.catalog import service as catalog
from tests.compat.billing import Merchant, card, merchant
from tests.compat.test_paymentkit_plan_changes import MAY, MID_APRIL, prices, subscribe
from tests.payments.flow import GOOD_CARD
from tests.support import Server, connect_url


def held_item(shop: Merchant, subscription_id: str) -> str:
    """The item the subscription holds (not one a scheduled change starts)."""
    [item] = [
        item
        for item in shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).items
        if item.is_active
    ]
    return item.id


def schedule(shop: Merchant, subscription_id: str, price_id: str) -> None:
    shop.client.subscriptions.update_subscription_items(
        shop.account_id,
        subscription_id,
        items=[UpdateSubscriptionItemPayload(id=held_item(shop, subscription_id), price_id=price_id)],
        proration_behavior="none",
        request_options={"additional_body_parameters": {"effective": "period_end"}},
    )


def shown(shop: Merchant, subscription_id: str) -> list[tuple[str, bool, bool, bool]]:
    """The subscription's wire items: price, active, starting at the period's end, dropped at it."""
    subscription = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id)
    return [
        (item.price.id, bool(item.is_active), bool(item.start_at_end), bool(item.drop_at_end))
        for item in subscription.items
    ]


def another_price(shop: Merchant, subscription: SubscriptionResponse) -> str:
    """A $20 monthly price of the subscription's product, written through the services."""

    async def create() -> str:
        database = connect_url(shop.server.database_url)
        try:
            async with database.writing() as session:
                price = await catalog.create_price(
                    session,
                    shop.account_id,
                    product_id=subscription.items[0].price.product_id,
                    currency="usd",
                    unit_amount_atom=2000,
                    recurring_interval="month",
                )
                await session.commit()
                return price.id
        finally:
            await database.dispose()

    return asyncio.run(create())


def test_a_downgrade_scheduled_for_the_period_end_charges_nothing_and_the_renewal_bills_the_new_plan(
    server: Server,
) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, subscription_id = subscribe(shop, price["pro"])
    shop.advance(clock_id, MID_APRIL)

    schedule(shop, subscription_id, price["basic"])

    assert shop.charged() == [3000]
    assert shown(shop, subscription_id) == [(price["pro"], True, False, True), (price["basic"], False, True, False)]
    assert [invoice.billing_reason for invoice in shop.invoices(subscription_id)] == ["subscription_create"]
    preview = shop.client.subscriptions.preview_subscription(shop.account_id, subscription_id).upcoming_invoice
    assert ([line.price_id for line in preview.line_items], preview.total_atom) == ([price["basic"]], 1000)

    shop.advance(clock_id, MAY + timedelta(hours=1))

    assert shop.charged() == [3000, 1000]
    renewal = shop.invoices(subscription_id)[-1]
    assert (renewal.billing_reason, renewal.total_amount_atom, renewal.status) == ("subscription_cycle", 1000, "paid")
    assert shown(shop, subscription_id) == [(price["basic"], True, False, False)]
    subscription = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id)
    assert subscription.current_period_start == MAY


def test_a_later_change_replaces_the_scheduled_one(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, subscription_id = subscribe(shop, price["pro"])
    shop.advance(clock_id, MID_APRIL)
    schedule(shop, subscription_id, price["basic"])

    shop.client.subscriptions.update_subscription_items(
        shop.account_id,
        subscription_id,
        items=[UpdateSubscriptionItemPayload(id=held_item(shop, subscription_id), quantity=2)],
        proration_behavior="create_prorations",
    )

    assert shown(shop, subscription_id) == [(price["pro"], True, False, False)]
    shop.advance(clock_id, MAY + timedelta(hours=1))
    renewal = shop.invoices(subscription_id)[-1]
    # Two Pro seats from May on, plus the second seat's half of April: the Basic plan was never applied.
    assert renewal.total_amount_atom == 6000 + 1500
    assert shown(shop, subscription_id) == [(price["pro"], True, False, False)]


def test_scheduling_the_plan_held_cancels_the_scheduled_change(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, subscription_id = subscribe(shop, price["pro"])
    shop.advance(clock_id, MID_APRIL)
    schedule(shop, subscription_id, price["basic"])

    shop.client.subscriptions.update_subscription_items(
        shop.account_id,
        subscription_id,
        items=[UpdateSubscriptionItemPayload(id=held_item(shop, subscription_id), quantity=1)],
        request_options={"additional_body_parameters": {"effective": "period_end"}},
    )

    assert shown(shop, subscription_id) == [(price["pro"], True, False, False)]
    shop.advance(clock_id, MAY + timedelta(hours=1))
    assert shop.charged() == [3000, 3000]


def test_a_period_end_change_refuses_prorating_and_an_interval_change(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, subscription_id = subscribe(shop, price["basic"])
    shop.advance(clock_id, MID_APRIL)
    item = held_item(shop, subscription_id)

    refused = []
    for target, behavior in [(price["pro"], "always_invoice"), (price["pro_yearly"], "none")]:
        try:
            shop.client.subscriptions.update_subscription_items(
                shop.account_id,
                subscription_id,
                items=[UpdateSubscriptionItemPayload(id=item, price_id=target)],
                proration_behavior=behavior,
                request_options={"additional_body_parameters": {"effective": "period_end"}},
            )
        except ApiError as error:
            refused.append(error.status_code)
    assert refused == [422, 422]
    assert shown(shop, subscription_id) == [(price["basic"], True, False, False)]


def test_a_period_end_checkout_session_charges_nothing_today_and_the_renewal_bills_the_new_plan(
    server: Server,
) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, subscription_id = subscribe(shop, price["pro"])
    shop.advance(clock_id, MID_APRIL)
    customer_id = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).customer_id
    # Another price of Pro's product: the session changes the subscription.
    cheaper = another_price(shop, shop.client.subscriptions.get_subscription(shop.account_id, subscription_id))

    checkout = shop.client.checkout_sessions.create_checkout_session(
        shop.account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[CheckoutSessionLineItemCreate(price_id=cheaper)],
        customer_id=customer_id,
        request_options={"additional_body_parameters": {"plan_change_timing": "period_end"}},
    )
    proration = (checkout.model_extra or {})["proration"]
    assert (proration["timing"], proration["amount_due_atom"], proration["next_renewal_atom"]) == (
        "period_end",
        0,
        2000,
    )
    assert proration["next_renewal_at"] == MAY.isoformat()
    confirmed = httpx.post(
        f"{shop.server.base_url}/api/public/checkout/{checkout.secure_token}/confirm",
        json={"payment_method": card(GOOD_CARD)},
        timeout=60,
    )
    assert confirmed.json()["state"] == "succeeded", confirmed.text

    assert shop.charged() == [3000]
    assert shown(shop, subscription_id) == [(price["pro"], True, False, True), (cheaper, False, True, False)]
    [subscription] = shop.client.subscriptions.list_subscriptions_by_customer(shop.account_id, customer_id)
    assert subscription.id == subscription_id

    shop.advance(clock_id, MAY + timedelta(hours=1))
    assert shop.charged() == [3000, 2000]
    assert shown(shop, subscription_id) == [(cheaper, True, False, False)]


def test_the_preview_of_a_period_end_change_bills_the_new_plan_and_changes_nothing(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, subscription_id = subscribe(shop, price["pro"])
    shop.advance(clock_id, MID_APRIL)
    proposed = json.dumps([{"id": held_item(shop, subscription_id), "price_id": price["basic"]}])

    preview = shop.client.subscriptions.preview_subscription(
        shop.account_id,
        subscription_id,
        request_options={"additional_query_parameters": {"items": proposed, "effective": "period_end"}},
    )

    upcoming = preview.upcoming_invoice
    assert [(line.price_id, line.amount_atom) for line in upcoming.line_items] == [(price["basic"], 1000)]
    assert (upcoming.total_atom, upcoming.period_start) == (1000, MAY)
    assert (preview.model_extra or {})["proration"]["net_atom"] == 0
    # A downgrade invoiced now credits the unused $15 of Pro less $5 of Basic: the next invoice is paid by it.
    now = shop.client.subscriptions.preview_subscription(
        shop.account_id,
        subscription_id,
        request_options={"additional_query_parameters": {"items": proposed, "proration_behavior": "always_invoice"}},
    ).upcoming_invoice
    assert (sorted(line.amount_atom for line in now.line_items), now.total_atom) == ([-1000, 1000], 0)
    assert shown(shop, subscription_id) == [(price["pro"], True, False, False)]
    assert shop.charged() == [3000]
