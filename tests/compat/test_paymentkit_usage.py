"""Metered prices through the ``payment-kit`` SDK against a real server, on a test clock: a metered price created
with the SDK's fields (its aggregation a Checkstand extension sent as an additional body parameter), sold by a
checkout session that charges nothing today (the card saved by a setup) and shows the line as billed by usage, usage
reported over HTTP with the merchant's key (the SDK has no meter client; one report sent twice by its identifier),
the usage endpoint before the renewal, and the period's usage billed once, in arrears, at its end plus the grace
window: per unit, and graduated over tiers 1-10, 11-20, 21+."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx
from payment_kit import PaymentKit
from payment_kit.types import CheckoutSessionLineItemCreate, TierAmountAtom, TierAmountInfo

from tests.compat.billing import START, Merchant, card, merchant
from tests.conftest import bearer
from tests.support import Server

GOOD_CARD: Final = "4242424242424242"
END: Final = datetime(2028, 2, 29, 10, 0, tzinfo=UTC)
GRACE: Final = timedelta(hours=1)  # the server's default CHECKSTAND_USAGE_GRACE_SECONDS
TIERS: Final = [
    TierAmountAtom(units_upto=10, unit_amount_atom=100),
    TierAmountAtom(units_upto=20, unit_amount_atom=80),
    TierAmountAtom(units_upto=None, unit_amount_atom=50, flat_amount_atom=250),
]


def report(shop: Merchant, customer_id: str, value: int, at: datetime, identifier: str) -> httpx.Response:
    """One usage report, as a merchant's backend sends it."""
    return httpx.post(
        f"{shop.server.base_url}/api/{shop.account_id}/meter-events/",
        json={
            "metered_id": "api_calls",
            "customer_id": customer_id,
            "value": value,
            "timestamp": at.isoformat(),
            "identifier": identifier,
        },
        headers=bearer(shop.secret),
        timeout=30,
    )


def usage_now(shop: Merchant, subscription_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{shop.server.base_url}/api/{shop.account_id}/subscriptions/{subscription_id}/usage",
        headers=bearer(shop.secret),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_a_metered_price_bills_its_reported_usage_once_at_renewal(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    client: PaymentKit = shop.client
    product = client.products.create_product(shop.account_id, name="API calls")
    price = client.prices.create_price(
        shop.account_id,
        product_id=product.id,
        currency="usd",
        unit_amount_atom=5,
        recurring_interval="month",
        usage_type="metered",
        metered_id="api_calls",
        request_options={"additional_body_parameters": {"usage_aggregation": "sum"}},
    )
    assert (price.usage_type, price.metered_id, (price.model_extra or {})["usage_aggregation"]) == (
        "metered",
        "api_calls",
        "sum",
    )
    assert client.prices.get_price(shop.account_id, price.id).usage_type == "metered"

    # A session selling it charges nothing today; the page's view shows the line billed by usage at its rate.
    offer = client.checkout_sessions.create_checkout_session(
        shop.account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[CheckoutSessionLineItemCreate(price_id=price.id)],
    )
    assert offer.model_extra is not None
    assert (offer.model_extra["amount_total_atom"], offer.model_extra["amount_due_today_atom"]) == (0, 0)
    public = httpx.get(f"{server.base_url}/api/public/checkout/{offer.secure_token}", timeout=30).json()
    [line] = public["tiers"][0]["line_items"]
    assert (line["billed_by_usage"], line["amount_subtotal_atom"]) == (True, 0)
    assert (line["usage_rate"]["unit_amount_atom"], line["usage_rate"]["per_units"]) == (5, 1)

    subscribed = shop.subscribe(card(GOOD_CARD), price_id=price.id)
    assert shop.charged() == []  # the card was saved by a setup: nothing charged
    [item] = client.subscriptions.get_subscription(shop.account_id, subscribed.subscription_id).items
    assert (item.price.usage_type, item.quantity) == ("metered", 0)

    shop.advance(subscribed.clock_id, START + timedelta(days=20))
    answers = [
        report(shop, subscribed.customer_id, 100, START + timedelta(days=1), "day-1"),
        report(shop, subscribed.customer_id, 250, START + timedelta(days=5), "day-5"),
        report(shop, subscribed.customer_id, 250, START + timedelta(days=5), "day-5"),  # a retry of the same report
        report(shop, subscribed.customer_id, 50, START + timedelta(days=19), "day-19"),
    ]
    assert [answer.status_code for answer in answers] == [201, 201, 200, 201]
    assert answers[2].json()["id"] == answers[1].json()["id"]
    assert answers[0].json()["subscription_id"] == subscribed.subscription_id

    before = usage_now(shop, subscribed.subscription_id)
    assert (before["period_start"], before["period_end"]) == ("2028-01-31T10:00:00Z", "2028-02-29T10:00:00Z")
    assert [(used["metered_id"], used["quantity"], used["amount_atom"]) for used in before["items"]] == [
        ("api_calls", 400, 400 * 5)
    ]
    assert shop.invoices(subscribed.subscription_id) == []  # nothing billed before the period's end

    shop.advance(subscribed.clock_id, END + GRACE)
    renewal = shop.invoices(subscribed.subscription_id)[-1]
    assert (renewal.total_amount_atom, renewal.status) == (400 * 5, "paid")
    lines = client.invoices.get_invoice(shop.account_id, renewal.id).items or []
    assert [(line.quantity, line.amount, (line.metadata or {}).get("metered_id")) for line in lines] == [
        (400, 2000, "api_calls")
    ]
    assert shop.charged() == [2000]
    # Billed once: a later advance bills the next period's usage (none) and nothing of this one again.
    shop.advance(subscribed.clock_id, END + timedelta(days=40))
    assert shop.charged() == [2000]
    late = report(shop, subscribed.customer_id, 1, END - timedelta(minutes=1), "too-late")
    assert late.status_code == 422
    assert [problem["loc"] for problem in late.json()["detail"]] == [["body", "timestamp"]]


def test_a_graduated_metered_price_bills_each_tiers_units(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    client: PaymentKit = shop.client
    product = client.products.create_product(shop.account_id, name="Tokens")
    price = client.prices.create_price(
        shop.account_id,
        product_id=product.id,
        currency="usd",
        recurring_interval="month",
        usage_type="metered",
        metered_id="api_calls",
        billing_scheme="tiered",
        tier_amount_info=TierAmountInfo(mode="graduated", amount_atoms=TIERS),
    )
    subscribed = shop.subscribe(card(GOOD_CARD), price_id=price.id)
    shop.advance(subscribed.clock_id, START + timedelta(days=3))
    assert report(shop, subscribed.customer_id, 25, START + timedelta(days=2), "batch").status_code == 201

    graduated = 10 * 100 + 10 * 80 + 5 * 50 + 250
    assert [used["amount_atom"] for used in usage_now(shop, subscribed.subscription_id)["items"]] == [graduated]
    shop.advance(subscribed.clock_id, END + GRACE)
    renewal = shop.invoices(subscribed.subscription_id)[-1]
    assert (renewal.total_amount_atom, renewal.status) == (graduated, "paid")
    assert shop.charged() == [graduated]
