"""Plan changes through the ``payment-kit`` SDK's ``update_subscription_items`` against a real server, on a test
clock, on both backends: an upgrade charged now to the second (``always_invoice``), a downgrade credited on the next
invoice (``create_prorations``), a switch to a yearly plan (a new period, the unused month credited), and seats.

A 30-day April period makes the amounts round: Basic is $10 and Pro $30 a month, so 15 days in, the unused half of
Basic is a $5 credit and the rest of Pro a $15 charge.
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Final

import httpx
from payment_kit.core.api_error import ApiError
from payment_kit.types import CheckoutSessionLineItemCreate, UpdateSubscriptionItemPayload

from checkstand.catalog import service as catalog
from tests.compat.billing import Merchant, card, merchant
from tests.invoices.factory import SAVES_THEN_DECLINES
from tests.payments.flow import GOOD_CARD
from tests.support import Server, connect_url

APRIL: Final = datetime(2028, 4, 1, 10, 0, tzinfo=UTC)
MAY: Final = datetime(2028, 5, 1, 10, 0, tzinfo=UTC)
MID_APRIL: Final = APRIL + timedelta(days=15)


def prices(shop: Merchant) -> dict[str, str]:
    """Basic $10 and Pro $30 a month, Pro $300 a year, a $10 seat: written through the services."""

    async def create() -> dict[str, str]:
        database = connect_url(shop.server.database_url)
        try:
            async with database.writing() as session:
                made = {}
                for name, amount, interval in [
                    ("basic", 1000, "month"),
                    ("pro", 3000, "month"),
                    ("pro_yearly", 30000, "year"),
                    ("seat", 1000, "month"),
                ]:
                    product = await catalog.create_product(session, shop.account_id, name=name.title())
                    price = await catalog.create_price(
                        session,
                        shop.account_id,
                        product_id=product.id,
                        currency="usd",
                        unit_amount_atom=amount,
                        recurring_interval=interval,
                    )
                    made[name] = price.id
                await session.commit()
                return made
        finally:
            await database.dispose()

    return asyncio.run(create())


def subscribe(shop: Merchant, price_id: str, *, number: str = GOOD_CARD) -> tuple[str, str]:
    """A customer on a clock at April 1st who pays ``price_id`` through the public checkout; answers the clock's
    id and the subscription's."""
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
    )
    confirmed = httpx.post(
        f"{shop.server.base_url}/api/public/checkout/{checkout.secure_token}/confirm",
        json={"payment_method": card(number)},
        timeout=60,
    )
    assert confirmed.json()["state"] == "succeeded", confirmed.text
    [subscription] = shop.client.subscriptions.list_subscriptions_by_customer(shop.account_id, customer.id)
    return clock_id, subscription.id


def item_id(shop: Merchant, subscription_id: str) -> str:
    [item] = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).items
    return item.id


def test_an_upgrade_mid_period_is_charged_now_to_the_second_and_renews_at_the_new_price(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, subscription_id = subscribe(shop, price["basic"])
    shop.advance(clock_id, MID_APRIL)

    changed = shop.client.subscriptions.update_subscription_items(
        shop.account_id,
        subscription_id,
        items=[UpdateSubscriptionItemPayload(id=item_id(shop, subscription_id), price_id=price["pro"])],
        proration_behavior="always_invoice",
    )

    assert (changed.proration_amount_atom, changed.payment_status) == (1000, "succeeded")
    assert shop.charged() == [1000, 1000]
    [subscription] = shop.client.subscriptions.list_subscriptions_by_customer(
        shop.account_id, shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).customer_id
    )
    assert [(item.price.id, item.quantity) for item in subscription.items] == [(price["pro"], 1)]
    assert (subscription.current_period_start, subscription.current_period_end) == (APRIL, MAY)
    invoice = shop.client.invoices.get_invoice(shop.account_id, changed.invoice_id or "")
    assert (invoice.billing_reason, invoice.status, invoice.total_amount_atom) == ("subscription_update", "paid", 1000)
    preview = shop.client.subscriptions.preview_subscription(shop.account_id, subscription_id)
    assert (preview.upcoming_invoice.total_atom, preview.upcoming_invoice.period_start) == (3000, MAY)
    assert "subscription.updated" in shop.event_types(subscription_id)

    shop.advance(clock_id, MAY + timedelta(hours=1))
    assert shop.charged() == [1000, 1000, 3000]


def test_an_upgrade_whose_payment_is_declined_changes_nothing(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, subscription_id = subscribe(shop, price["basic"], number=SAVES_THEN_DECLINES)
    shop.advance(clock_id, MID_APRIL)

    changed = shop.client.subscriptions.update_subscription_items(
        shop.account_id,
        subscription_id,
        items=[UpdateSubscriptionItemPayload(id=item_id(shop, subscription_id), price_id=price["pro"])],
        proration_behavior="always_invoice",
    )

    assert changed.payment_status == "failed"
    subscription = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id)
    assert [item.price.id for item in subscription.items] == [price["basic"]]
    assert subscription.state == "active"
    assert shop.client.invoices.get_invoice(shop.account_id, changed.invoice_id or "").status == "void"


def test_a_downgrade_with_create_prorations_charges_nothing_now_and_credits_the_next_invoice(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, subscription_id = subscribe(shop, price["pro"])
    shop.advance(clock_id, MID_APRIL)

    changed = shop.client.subscriptions.update_subscription_items(
        shop.account_id,
        subscription_id,
        items=[UpdateSubscriptionItemPayload(id=item_id(shop, subscription_id), price_id=price["basic"])],
        proration_behavior="create_prorations",
    )

    assert (changed.proration_amount_atom, changed.floating_items_created, changed.invoice_id) == (-1000, 2, None)
    assert shop.charged() == [3000]
    preview = shop.client.subscriptions.preview_subscription(shop.account_id, subscription_id).upcoming_invoice
    assert sorted(line.amount_atom for line in preview.line_items) == [-1500, 500, 1000]
    assert preview.total_atom == 0

    shop.advance(clock_id, MAY + timedelta(hours=1))
    renewal = shop.invoices(subscription_id)[-1]
    assert (renewal.billing_reason, renewal.total_amount_atom, renewal.status) == ("subscription_cycle", 0, "paid")


def test_a_switch_to_a_yearly_plan_starts_a_new_period_and_credits_the_unused_month(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, subscription_id = subscribe(shop, price["basic"])
    shop.advance(clock_id, MID_APRIL)

    changed = shop.client.subscriptions.update_subscription_items(
        shop.account_id,
        subscription_id,
        items=[UpdateSubscriptionItemPayload(id=item_id(shop, subscription_id), price_id=price["pro_yearly"])],
        proration_behavior="always_invoice",
    )

    assert (changed.proration_amount_atom, changed.payment_status) == (30000 - 500, "succeeded")
    subscription = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id)
    assert (subscription.current_period_start, subscription.current_period_end) == (
        MID_APRIL,
        MID_APRIL.replace(year=2029),
    )
    assert shop.charged() == [1000, 29500]


def test_seats_one_to_three_mid_period_charge_two_seats_for_the_rest_of_it(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, subscription_id = subscribe(shop, price["seat"])
    shop.advance(clock_id, APRIL + timedelta(days=10))
    quoted = APRIL + timedelta(days=10)

    changed = shop.client.subscriptions.update_subscription_items(
        shop.account_id,
        subscription_id,
        items=[UpdateSubscriptionItemPayload(id=item_id(shop, subscription_id), quantity=3)],
        proration_behavior="always_invoice",
        proration_date=quoted,
    )

    # 20 of 30 days left: 3 seats (2000) less the unused seat (667).
    assert (changed.proration_amount_atom, changed.payment_status) == (1333, "succeeded")
    [item] = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).items
    assert (item.price.id, item.quantity) == (price["seat"], 3)
    preview = shop.client.subscriptions.preview_subscription(shop.account_id, subscription_id)
    assert preview.upcoming_invoice.total_atom == 3000


def test_the_preview_prices_proposed_items_without_applying_them(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, subscription_id = subscribe(shop, price["basic"])
    shop.advance(clock_id, MID_APRIL)
    proposed = json.dumps([{"id": item_id(shop, subscription_id), "price_id": price["pro"]}])

    preview = shop.client.subscriptions.preview_subscription(
        shop.account_id, subscription_id, request_options={"additional_query_parameters": {"items": proposed}}
    )

    proration = (preview.model_extra or {})["proration"]
    assert [line["amount_atom"] for line in proration["lines"]] == [-500, 1500]
    assert (proration["amount_due_atom"], proration["next_renewal_atom"]) == (1000, 3000)
    # The next invoice once the change applied: Pro, with the prorations create_prorations (the default) leaves.
    upcoming = preview.upcoming_invoice
    assert sorted(line.amount_atom for line in upcoming.line_items) == [-500, 1500, 3000]
    assert (upcoming.total_atom, upcoming.period_start) == (4000, MAY)
    charged_now = shop.client.subscriptions.preview_subscription(
        shop.account_id,
        subscription_id,
        request_options={"additional_query_parameters": {"items": proposed, "proration_behavior": "always_invoice"}},
    )
    assert [line.amount_atom for line in charged_now.upcoming_invoice.line_items] == [3000]
    held = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id)
    assert [item.price.id for item in held.items] == [price["basic"]]
    assert shop.charged() == [1000]


def test_a_downgrade_invoiced_now_charges_nothing_and_the_credit_balance_pays_the_next_renewal(
    server: Server,
) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, subscription_id = subscribe(shop, price["pro"])
    shop.advance(clock_id, MID_APRIL)

    changed = shop.client.subscriptions.update_subscription_items(
        shop.account_id,
        subscription_id,
        items=[UpdateSubscriptionItemPayload(id=item_id(shop, subscription_id), price_id=price["basic"])],
        proration_behavior="always_invoice",
    )

    assert (changed.proration_amount_atom, changed.invoice_id, changed.payment_status) == (-1000, None, None)
    customer_id = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).customer_id
    balance = shop.client.customers.get_customer(shop.account_id, customer_id).credit_balance
    assert balance is not None
    assert (balance.amount_atom, balance.currency) == (1000, "usd")

    shop.advance(clock_id, MAY + timedelta(hours=1))
    renewal = shop.invoices(subscription_id)[-1]
    assert (renewal.total_amount_atom, renewal.status) == (0, "paid")
    assert shop.charged() == [3000]
    balance = shop.client.customers.get_customer(shop.account_id, customer_id).credit_balance
    assert balance is not None
    assert balance.amount_atom == 0


def test_two_upgrades_sent_at_once_charge_and_apply_one(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = prices(shop)
    clock_id, subscription_id = subscribe(shop, price["basic"])
    shop.advance(clock_id, MID_APRIL)
    item = item_id(shop, subscription_id)
    start = threading.Barrier(2)

    def upgrade() -> int | str:
        start.wait()
        try:
            changed = shop.client.subscriptions.update_subscription_items(
                shop.account_id,
                subscription_id,
                items=[UpdateSubscriptionItemPayload(id=item, price_id=price["pro"])],
                proration_behavior="always_invoice",
            )
        except ApiError as refused:
            return refused.status_code or 0
        return changed.payment_status or ""

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(map(str, pool.map(lambda _: upgrade(), range(2))))

    # The loser either waited for the winner's row lock and found its item gone (422), or saw its charge open (409).
    assert outcomes[1] == "succeeded"
    assert outcomes[0] in ("409", "422")
    assert shop.charged() == [1000, 1000]
    [held] = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).items
    assert held.price.id == price["pro"]
