"""Recurring tiered prices and bulk price migration through the ``payment-kit`` SDK against a real server, on a test
clock: a graduated price bought at 25 seats over tiers of 1-10, 11-20 and 21 and up is charged, and renewed, at each
tier's units; a product's default price migrated with its subscriptions moves them at their next renewal, not before,
while a refused migration in the same call is reported beside it."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import httpx
from payment_kit.types import CheckoutSessionLineItemCreate, PriceMigrationItem, TierAmountAtom, TierAmountInfo

from tests.compat.billing import START, Merchant, card, merchant
from tests.conftest import bearer
from tests.payments.flow import GOOD_CARD
from tests.support import Server

TIERS: Final = [
    TierAmountAtom(units_upto=10, unit_amount_atom=1000),
    TierAmountAtom(units_upto=20, unit_amount_atom=800),
    TierAmountAtom(units_upto=None, unit_amount_atom=500, flat_amount_atom=250),
]
GRADUATED_25: Final = 10 * 1000 + 10 * 800 + 5 * 500 + 250
FEBRUARY_END: Final = datetime(2028, 2, 29, 10, 0, tzinfo=START.tzinfo)
MARCH_END: Final = datetime(2028, 3, 31, 10, 0, tzinfo=START.tzinfo)


def _customer_on_a_clock(shop: Merchant) -> tuple[str, str]:
    """A test clock at ``START`` and a customer on it: ``(clock id, customer id)``."""
    clock = httpx.post(
        f"{shop.server.base_url}/api/{shop.account_id}/test-clocks/",
        json={"name": "Seats", "frozen_time": START.isoformat()},
        headers=bearer(shop.secret),
        timeout=60,
    )
    assert clock.status_code == 201, clock.text
    customer = shop.client.customers.create_customer(
        shop.account_id,
        email="ada@example.com",
        request_options={"additional_body_parameters": {"test_clock_id": clock.json()["id"]}},
    )
    return clock.json()["id"], customer.id


def _pay(shop: Merchant, customer_id: str, price_id: str, quantity: int) -> tuple[int, str]:
    """A checkout of ``quantity`` of the price, paid by card through the public checkout API: what it charged, and
    the subscription it started."""
    session = shop.client.checkout_sessions.create_checkout_session(
        shop.account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[CheckoutSessionLineItemCreate(price_id=price_id, quantity=quantity)],
        customer_id=customer_id,
    )
    confirmed = httpx.post(
        f"{shop.server.base_url}/api/public/checkout/{session.secure_token}/confirm",
        json={"payment_method": card(GOOD_CARD)},
        timeout=60,
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "succeeded", confirmed.text
    [subscription] = shop.client.subscriptions.list_subscriptions_by_customer(shop.account_id, customer_id)
    return (session.model_extra or {})["amount_due_today_atom"], subscription.id


def test_a_recurring_graduated_price_bought_at_25_renews_at_each_tiers_units(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    clock_id, customer_id = _customer_on_a_clock(shop)
    product = shop.client.products.create_product(shop.account_id, name="Seats")
    price = shop.client.prices.create_price(
        shop.account_id,
        product_id=product.id,
        currency="usd",
        recurring_interval="month",
        billing_scheme="tiered",
        tier_amount_info=TierAmountInfo(mode="graduated", amount_atoms=TIERS),
    )
    assert (price.pricing_type, price.billing_scheme) == ("recurring", "tiered")

    due, subscription_id = _pay(shop, customer_id, price.id, 25)

    assert due == GRADUATED_25
    [item] = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).items
    assert (item.quantity, item.unit_amount_atom, (item.model_extra or {})["amount_atom"]) == (25, 0, GRADUATED_25)
    preview = shop.client.subscriptions.preview_subscription(shop.account_id, subscription_id).upcoming_invoice
    assert [(line.quantity, line.amount_atom) for line in preview.line_items] == [(25, GRADUATED_25)]

    shop.advance(clock_id, FEBRUARY_END)

    invoices = shop.invoices(subscription_id)
    assert [(invoice.billing_reason, invoice.total_amount_atom) for invoice in invoices] == [
        ("subscription_create", GRADUATED_25),
        ("subscription_cycle", GRADUATED_25),
    ]
    for invoice in invoices:
        [line] = shop.client.invoices.get_invoice(shop.account_id, invoice.id).items or []
        # No one amount per unit is true of a graduated line: it shows none and bills the whole.
        assert (line.quantity, line.unit_amount, line.amount) == (25, 0, GRADUATED_25)
    assert shop.charged() == [GRADUATED_25, GRADUATED_25]


def test_a_bulk_migration_moves_subscriptions_at_their_next_renewal_beside_a_refused_one(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    client, account_id = shop.client, shop.account_id
    clock_id, customer_id = _customer_on_a_clock(shop)
    product = client.products.create_product(account_id, name="Pro")
    old = client.prices.create_price(
        account_id, product_id=product.id, currency="usd", unit_amount_atom=900, recurring_interval="month"
    )
    new = client.prices.create_price(
        account_id, product_id=product.id, currency="usd", unit_amount_atom=1500, recurring_interval="month"
    )
    client.products.update_product(account_id, product.id, name="Pro", default_price_id=old.id)
    other = client.products.create_product(account_id, name="Team")
    other_default = client.prices.create_price(
        account_id, product_id=other.id, currency="usd", unit_amount_atom=500, recurring_interval="month"
    )
    yearly = client.prices.create_price(
        account_id, product_id=other.id, currency="usd", unit_amount_atom=5000, recurring_interval="year"
    )
    client.products.update_product(account_id, other.id, name="Team", default_price_id=other_default.id)
    _, subscription_id = _pay(shop, customer_id, old.id, 1)
    shop.advance(clock_id, FEBRUARY_END)

    migrated = client.prices.bulk_migrate_prices(
        account_id,
        migrations=[
            PriceMigrationItem(product_id=other.id, target_price_id=yearly.id, migrate_subscriptions=True),
            PriceMigrationItem(product_id=product.id, target_price_id=new.id, migrate_subscriptions=True),
        ],
    )

    assert (migrated.total_requested, migrated.successful, migrated.failed) == (2, 1, 1)
    [done] = migrated.results or []
    assert (done.product_id, done.old_default_price_id, done.new_default_price_id, done.subscriptions_migrated) == (
        product.id,
        old.id,
        new.id,
        1,
    )
    [refused] = migrated.errors or []
    assert (refused.product_id, refused.target_price_id) == (other.id, yearly.id)
    assert "interval" in refused.error
    assert client.products.get_product(account_id, other.id).default_price_id == other_default.id
    assert client.products.get_product(account_id, product.id).default_price_id == new.id
    # Not before the next renewal: the subscription still holds the old price; its next invoice bills the new one.
    assert [item.price.id for item in client.subscriptions.get_subscription(account_id, subscription_id).items] == [
        old.id
    ]
    preview = client.subscriptions.preview_subscription(account_id, subscription_id).upcoming_invoice
    assert [(line.price_id, line.amount_atom) for line in preview.line_items] == [(new.id, 1500)]

    shop.advance(clock_id, MARCH_END)

    assert [invoice.total_amount_atom for invoice in shop.invoices(subscription_id)] == [900, 900, 1500]
    assert [item.price.id for item in client.subscriptions.get_subscription(account_id, subscription_id).items] == [
        new.id
    ]
    assert shop.event_types(subscription_id)[-2:] == ["subscription.updated", "subscription.renewed"]
    assert shop.charged() == [900, 900, 1500]
