"""``subscriptions/`` in the PaymentKit dialect, in process, on both backends."""

from __future__ import annotations

from typing import Any

import httpx
from payment_kit.types import SubscriptionResponse
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from tests.conftest import bearer
from tests.shop import Shop
from tests.subscriptions.factory import PAYMENT_METHOD, checkout_for, new_subscription, subscribe


def path(shop: Shop, rest: str = "") -> str:
    return f"/api/{shop.account_id}/subscriptions/{rest}"


async def get_json(client: httpx.AsyncClient, shop: Shop, rest: str, **params: Any) -> Any:
    response = await client.get(path(shop, rest), params=params, headers=bearer(shop.secret))
    assert response.status_code == 200, response.text
    return response.json()


async def test_get_answers_the_sdk_subscription_shape(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    checkout = await checkout_for(
        session, shop.account_id, [shop.tshirt, shop.monthly], subscription_custom_fields={"seats": 3}
    )
    subscription = await subscribe(session, checkout)
    assert subscription is not None
    await session.commit()

    body = await get_json(client, shop, subscription.id)

    parsed = SubscriptionResponse.model_validate(body)
    assert (parsed.id, parsed.state, parsed.currency) == (subscription.id, "trialing", "usd")
    assert parsed.customer.id == subscription.customer_id
    assert parsed.customer.email == "ada@example.com"
    [item] = parsed.items
    assert (item.price.id, item.quantity, item.product_name) == (shop.monthly, 2, "Pro plan")
    assert item.price.recurring_interval == "month"
    assert parsed.collection_method == "charge_automatically"
    assert parsed.trial_end is not None
    assert parsed.current_period_start == parsed.trial_end
    assert parsed.custom_fields is None
    assert body["checkout_session_id"] == checkout.id
    assert body["default_payment_method_id"] == PAYMENT_METHOD
    assert (body["billing_interval"], body["billing_interval_count"]) == ("month", 1)
    assert body["items"][0]["unit_amount_atom"] == 900

    expanded = await get_json(client, shop, subscription.id, expand="custom_fields")
    assert expanded["custom_fields"] == {"seats": 3}


async def test_unknown_expansion_is_a_422_naming_expand(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])
    response = await client.get(path(shop, subscription.id), params={"expand": "invoices"}, headers=bearer(shop.secret))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "expand"]


async def test_another_accounts_subscription_is_not_found(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])
    other = await accounts.create_account(session, name="Other")
    key = await accounts.create_api_key(session, other)
    await session.commit()
    headers = bearer(key.secret)

    for method, rest in [("GET", subscription.id), ("POST", f"{subscription.id}/cancel")]:
        response = await client.request(method, f"/api/{other.id}/subscriptions/{rest}", headers=headers)
        assert response.status_code == 404, response.text
    listed = await client.get(f"/api/{other.id}/subscriptions/", headers=headers)
    assert listed.json() == {"items": [], "total": 0, "has_more": False}
    by_customer = await client.get(
        f"/api/{other.id}/subscriptions/by-customer/{subscription.customer_id}", headers=headers
    )
    assert by_customer.status_code == 404
    assert (await get_json(client, shop, subscription.id))["state"] == "active"


async def test_list_pages_newest_first_and_filters(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    yearly = await new_subscription(session, shop.account_id, [shop.yearly], email="a@example.com")
    trialing = await new_subscription(session, shop.account_id, [shop.monthly], email="b@example.com")

    first_page = await get_json(client, shop, "", limit=1)
    assert (first_page["total"], first_page["has_more"]) == (2, True)
    assert {item["id"] for item in (await get_json(client, shop, ""))["items"]} == {yearly.id, trialing.id}
    assert [s["id"] for s in (await get_json(client, shop, "", state="trialing"))["items"]] == [trialing.id]
    mine = await get_json(client, shop, "", customer_external_id=yearly.customer_id)
    assert [s["id"] for s in mine["items"]] == [yearly.id]
    filtered = await get_json(client, shop, "", filter='{"billing_interval": "year"}')
    assert [s["id"] for s in filtered["items"]] == [yearly.id]

    bad = await client.get(path(shop), params={"state": "asleep"}, headers=bearer(shop.secret))
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "state"]


async def test_by_customer_is_a_bare_list(client: httpx.AsyncClient, session: AsyncSession, shop: Shop) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])

    body = await get_json(client, shop, f"by-customer/{subscription.customer_id}")

    assert [SubscriptionResponse.model_validate(s).id for s in body] == [subscription.id]
    assert await get_json(client, shop, f"by-customer/{subscription.customer_id}", state="canceled") == []


async def test_cancel_answers_the_canceled_subscription_once(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])
    headers = {**bearer(shop.secret), "Idempotency-Key": "cancel-1"}

    response = await client.post(path(shop, f"{subscription.id}/cancel"), headers=headers)
    replay = await client.post(path(shop, f"{subscription.id}/cancel"), headers=headers)
    again = await client.post(path(shop, f"{subscription.id}/cancel"), headers=bearer(shop.secret))

    assert response.status_code == 200, response.text
    assert SubscriptionResponse.model_validate(response.json()).state == "canceled"
    assert response.json()["canceled_at"] is not None
    assert (replay.status_code, replay.json()) == (200, response.json())
    assert again.status_code == 409
    assert (await get_json(client, shop, subscription.id))["state"] == "canceled"


async def test_cancel_at_period_end_takes_a_query_value(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])
    endpoint = path(shop, f"{subscription.id}/cancel_at_period_end")

    scheduled = await client.post(endpoint, params={"value": "true"}, headers=bearer(shop.secret))
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["cancel_at_period_end"] is True
    kept = await client.post(endpoint, params={"value": "false"}, headers=bearer(shop.secret))
    assert (kept.json()["cancel_at_period_end"], kept.json()["state"]) == (False, "active")
    bad = await client.post(endpoint, params={"value": "maybe"}, headers=bearer(shop.secret))
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "value"]
