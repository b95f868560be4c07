"""Each domain's snapshot is what the PaymentKit API answers for the object: one event of every aggregate type,
recorded through the API and a paid checkout, carries the same ``data`` as a read of the object at that moment.
The two are written in different places (the model's ``snapshot`` and the router's wire schema), so a field added
to one and not the other fails here."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import bearer

Merchant = tuple[str, str]

# PaymentKit resources and the expansion that makes a read carry all an event does (events carry custom fields).
READS: dict[str, tuple[str, dict[str, str]]] = {
    "processor": ("processors", {}),
    "processor_route": ("processor-routes", {}),
    "custom_field_definition": ("custom-field-definitions", {}),
    "product": ("products", {"expand": "custom_fields"}),
    "price": ("prices", {"expand": "custom_fields"}),
    "product_family": ("product-families", {}),
    "upgrade_path": ("upgrade-paths", {}),
    "package": ("packages", {}),
    "coupon": ("coupons", {}),
    "promotion_code": ("promotion-codes", {}),
    "customer": ("customers", {"expand": "custom_fields"}),
    "webhook_endpoint": ("webhook-endpoints", {}),
    "checkout_session": ("checkout-sessions", {"expand": "custom_fields"}),
    "checkout_attempt": ("checkout-attempts", {"expand": "processor_attempts"}),
    "subscription": ("subscriptions", {"expand": "custom_fields"}),
    "payment_method": ("payments/payment_methods", {}),
    "invoice": ("invoices", {}),
    "refund": ("payments/refunds", {}),
    "test_clock": ("test-clocks", {}),
    "payment_link": ("payment-links", {}),
}

# What a read adds that an event leaves out: the hosted page's address (it depends on the address the API is reached
# at), the product a read of a price embeds, and a product's count of prices.
READ_ONLY: dict[str, tuple[str, ...]] = {
    "checkout_session": ("url",),
    "payment_link": ("url",),
    "price": ("product",),
    "product": ("total_prices",),
    # The payments that paid an invoice are the payments', announced by their own events.
    "invoice": ("payments",),
    # Stripe's object tag, and the flag only a delete's answer sets.
    "test_clock": ("object", "deleted"),
}


def _settled(value: Any) -> Any:
    """``value`` without its ``updated_at`` times, at any depth: bookkeeping no event announces (a customer's first
    purchase noted, a paid session's attempt let go) may move them after the latest event; nothing else may."""
    if isinstance(value, dict):
        return {key: _settled(item) for key, item in value.items() if key != "updated_at"}
    if isinstance(value, list):
        return [_settled(item) for item in value]
    return value


class Api:
    def __init__(self, client: httpx.AsyncClient, merchant: Merchant) -> None:
        self.client = client
        self.account_id, secret = merchant
        self.headers = bearer(secret)

    async def create(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(f"/api/{self.account_id}/{resource}/", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def read(self, resource: str, object_id: str, params: dict[str, str]) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/{self.account_id}/{resource}/{object_id}", params=params, headers=self.headers
        )
        assert response.status_code == 200, response.text
        read: dict[str, Any] = response.json()
        return read

    async def events(self) -> list[dict[str, Any]]:
        response = await self.client.get(f"/api/{self.account_id}/events/", params={"limit": 100}, headers=self.headers)
        assert response.status_code == 200, response.text
        assert response.json()["has_more"] is False
        items: list[dict[str, Any]] = response.json()["items"]
        return items


async def _shop_and_sale(api: Api) -> None:
    """One object of every kind, then a customer pays a subscription's checkout with a good card."""
    processor = await api.create("processors", {"name": "Sim", "type": "simulator"})
    route = await api.create("processor-routes", {"name": "Main", "processors": [{"processor_id": processor["id"]}]})
    for entity_type, key in (("customer", "vip"), ("checkout_session", "gift_note"), ("subscription", "seats")):
        await api.create(
            "custom-field-definitions",
            {"field_key": key, "entity_type": entity_type, "data_type": "text", "display_name": key.title()},
        )
    product = await api.create("products", {"name": "Pro plan", "metadata": {"tier": "pro"}})
    monthly = await api.create(
        "prices",
        {"product_id": product["id"], "currency": "usd", "unit_amount_atom": 900, "recurring_interval": "month"},
    )
    cheaper = await api.create(
        "prices",
        {"product_id": product["id"], "currency": "usd", "unit_amount_atom": 500, "recurring_interval": "month"},
    )
    await api.create("product-families", {"name": "Plans", "hierarchy": [{"product_id": product["id"], "rank": 1}]})
    await api.create(
        "packages",
        {
            "name": "Pro bundle",
            "items": [{"product_id": product["id"], "monthly_price_id": monthly["id"], "quantity": 2}],
        },
    )
    await api.create(
        "upgrade-paths",
        {"source_price_id": cheaper["id"], "target_price_id": monthly["id"], "transition_type": "upgrade"},
    )
    coupon = await api.create("coupons", {"discount_type": "percent_off", "percent_off": "12.5"})
    await api.create(
        "promotion-codes",
        {
            "coupon_id": coupon["id"],
            "code": "SPRING",
            "restrictions": {"minimum_amount": "5", "minimum_amount_currency": "usd"},
        },
    )
    customer = await api.create(
        "customers",
        {
            "email": "ada@example.com",
            "first_name": "Ada",
            "address": {"line1": "1 Analytical Row", "country": "GB"},
            "custom_fields": {"vip": "yes"},
        },
    )
    await api.create("webhook-endpoints", {"url": "https://merchant.example/hooks", "events": ["*"]})
    await api.create(
        "payment-links",
        {
            "name": "Pro by link",
            "success_url": "https://merchant.example/done",
            "line_items": [{"price_id": monthly["id"], "quantity": 2, "description": "Two seats"}],
            "metadata": {"channel": "email"},
        },
    )
    checkout = await api.create(
        "checkout-sessions",
        {
            "success_url": "https://merchant.example/done",
            "return_url": "https://merchant.example/back",
            "customer_id": customer["id"],
            "line_items": [{"price_id": monthly["id"]}],
            "cascade_line_items": [{"line_items": [{"price_id": cheaper["id"]}], "processor_route_id": route["id"]}],
            "processor_route_id": route["id"],
            "custom_fields": {"gift_note": "enjoy"},
            "params_for_sub": {"custom_fields": {"seats": "3"}},
            "metadata": {"order": "42"},
        },
    )
    confirmed = await api.client.post(
        f"/api/public/checkout/{checkout['secure_token']}/confirm",
        json={
            "payment_method": {"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}},
            "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        },
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "succeeded"
    await api.create("test-clocks", {"name": "Leap year", "frozen_time": "2028-02-28T12:00:00Z"})
    payments = await api.client.get(f"/api/{api.account_id}/payments/intents/", headers=api.headers)
    [payment] = payments.json()["items"]
    attempts = await api.client.get(
        f"/api/{api.account_id}/payments/payment_attempts/by_intent/{payment['id']}", headers=api.headers
    )
    [attempt] = attempts.json()["items"]
    await api.create("payments/refunds", {"payment_attempt_external_id": attempt["id"], "amount_atom": 300})


async def test_every_aggregate_s_event_data_is_what_the_api_reads(
    client: httpx.AsyncClient, merchant: Merchant
) -> None:
    api = Api(client, merchant)
    await _shop_and_sale(api)

    latest: dict[str, dict[str, Any]] = {}
    for event in await api.events():  # newest first: the first seen of an aggregate is its latest
        latest.setdefault(event["aggregate_type"], event)
    assert set(latest) == {*READS, "payment"}

    for aggregate_type, (resource, params) in READS.items():
        event = latest[aggregate_type]
        read = await api.read(resource, event["aggregate_id"], params)
        for field in READ_ONLY.get(aggregate_type, ()):
            read.pop(field)
        assert _settled(event["data"]) == _settled(read), aggregate_type

    payment = latest["payment"]["data"]
    attempt = latest["checkout_attempt"]["data"]
    assert payment["id"] == latest["payment"]["aggregate_id"]
    assert (payment["checkout_attempt_id"], payment["checkout_session_id"]) == (
        attempt["id"],
        attempt["checkout_session_id"],
    )
    assert (payment["status"], payment["amount_atom"], payment["currency"]) == ("succeeded", 900, "usd")
    assert set(payment) == {
        "id",
        "account_id",
        "checkout_session_id",
        "checkout_attempt_id",
        "invoice_id",
        "subscription_id",
        "customer_id",
        "processor_id",
        "processor_reference",
        "payment_method_id",
        "status",
        "tier",
        "amount_atom",
        "amount_refunded_atom",
        "currency",
        "description",
        "metadata",
        "created_at",
        "updated_at",
    }
