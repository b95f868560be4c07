"""``meter-events/`` and ``subscriptions/{id}/usage`` through the PaymentKit dialect, in process on both backends:
a report recorded (201) and the same identifier answered as it was (200), read back and listed by filter, bad reports
refused at their field, another account's objects unknown; and what metered prices can't do yet refused clearly: a
quantity on a metered line, a metered price on a subscription made through the API or changed by an items update,
a plan change of a subscription holding one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.catalog import service as catalog
from checkstand.db import Database
from tests.conftest import bearer
from tests.invoices.factory import fresh
from tests.usage.factory import METER, START, Metered, metered_billing, metered_price


@pytest.fixture
async def metered(database: Database, session: AsyncSession, merchant: tuple[str, str]) -> Metered:
    return await metered_billing(database, session, merchant[0], base_amount_atom=1000)


def _locs(response: httpx.Response) -> list[tuple[str | int, ...]]:
    assert response.status_code == 422, response.text
    return [tuple(problem["loc"]) for problem in response.json()["detail"]]


async def test_a_report_is_recorded_once_and_read_back(
    client: httpx.AsyncClient, merchant: tuple[str, str], metered: Metered
) -> None:
    base, headers = f"/api/{merchant[0]}", bearer(merchant[1])
    body: dict[str, Any] = {
        "metered_id": METER,
        "customer_id": metered.customer_id,
        "value": 42,
        "timestamp": (START + timedelta(minutes=1)).isoformat(),
        "identifier": "job-7:tokens",
        "metadata": {"job": "7"},
    }
    created = await client.post(f"{base}/meter-events/", json=body, headers=headers)
    assert created.status_code == 201, created.text
    event = created.json()
    assert {key: event[key] for key in ("value", "identifier", "subscription_id", "metadata")} == {
        "value": 42,
        "identifier": "job-7:tokens",
        "subscription_id": metered.subscription_id,
        "metadata": {"job": "7"},
    }
    assert event["timestamp"] == "2028-01-31T10:01:00Z"

    again = await client.post(f"{base}/meter-events/", json={**body, "value": 1}, headers=headers)
    assert (again.status_code, again.json()) == (200, event)
    assert (await client.get(f"{base}/meter-events/{event['id']}", headers=headers)).json() == event
    listed = await client.get(
        f"{base}/meter-events/", params={"filter": f'{{"customer_id": "{metered.customer_id}"}}'}, headers=headers
    )
    assert (listed.json()["total"], listed.json()["items"]) == (1, [event])
    empty = await client.get(f"{base}/meter-events/", params={"filter": '{"metered_id": "other"}'}, headers=headers)
    assert empty.json()["total"] == 0

    usage = await client.get(f"{base}/subscriptions/{metered.subscription_id}/usage", headers=headers)
    assert usage.status_code == 200, usage.text
    assert usage.json() == {
        "subscription_id": metered.subscription_id,
        "currency": "usd",
        "period_start": "2028-01-31T10:00:00Z",
        "period_end": "2028-02-29T10:00:00Z",
        "items": [
            {
                "subscription_item_id": usage.json()["items"][0]["subscription_item_id"],
                "price_id": metered.price_id,
                "metered_id": METER,
                "usage_aggregation": "sum",
                "quantity": 42,
                "amount_atom": 42 * 5,
            }
        ],
        "total_amount_atom": 42 * 5,
    }


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"value": -1}, ("body", "value")),
        ({"value": 1.5}, ("body", "value")),
        ({"value": "3"}, ("body", "value")),
        ({"timestamp": "2028-01-31T10:00:00"}, ("body", "timestamp")),
        ({"timestamp": "2028-01-31T10:06:00Z"}, ("body", "timestamp")),
        ({"timestamp": "2028-01-31T09:59:59Z"}, ("body", "timestamp")),
        ({"identifier": "has space"}, ("body", "identifier")),
        ({"identifier": "x" * 101}, ("body", "identifier")),
        ({"metered_id": "no spaces please"}, ("body", "metered_id")),
        ({"customer_id": "cus_nobody"}, ("body", "customer_id")),
        ({"surprise": 1}, ("body", "surprise")),
    ],
)
async def test_a_bad_report_is_refused_at_its_field(
    client: httpx.AsyncClient,
    merchant: tuple[str, str],
    metered: Metered,
    change: dict[str, Any],
    loc: tuple[str, ...],
) -> None:
    body = {"metered_id": METER, "customer_id": metered.customer_id, "value": 1, **change}
    response = await client.post(f"/api/{merchant[0]}/meter-events/", json=body, headers=bearer(merchant[1]))
    assert _locs(response) == [loc]
    listed = await client.get(f"/api/{merchant[0]}/meter-events/", headers=bearer(merchant[1]))
    assert listed.json()["total"] == 0


async def test_another_accounts_events_and_subscriptions_are_unknown(
    client: httpx.AsyncClient, session: AsyncSession, merchant: tuple[str, str], metered: Metered
) -> None:
    mine = await client.post(
        f"/api/{merchant[0]}/meter-events/",
        json={"metered_id": METER, "customer_id": metered.customer_id, "value": 1},
        headers=bearer(merchant[1]),
    )
    other = await accounts.create_account(session, name="Other")
    key = await accounts.create_api_key(session, other)
    await session.commit()
    theirs = f"/api/{other.id}"
    read = await client.get(f"{theirs}/meter-events/{mine.json()['id']}", headers=bearer(key.secret))
    assert read.status_code == 404
    usage = await client.get(f"{theirs}/subscriptions/{metered.subscription_id}/usage", headers=bearer(key.secret))
    assert usage.status_code == 404
    reported = await client.post(
        f"{theirs}/meter-events/",
        json={"metered_id": METER, "customer_id": metered.customer_id, "value": 1},
        headers=bearer(key.secret),
    )
    assert _locs(reported) == [("body", "customer_id")]


async def test_a_metered_line_takes_no_quantity(
    client: httpx.AsyncClient, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    price_id = await metered_price(session, merchant[0])
    await session.commit()
    body = {
        "success_url": "https://shop.example/ok",
        "return_url": "https://shop.example/cart",
        "line_items": [{"price_id": price_id, "quantity": 2}],
    }
    refused = await client.post(f"/api/{merchant[0]}/checkout-sessions/", json=body, headers=bearer(merchant[1]))
    assert _locs(refused) == [("body", "line_items", 0, "quantity")]
    body["line_items"] = [{"price_id": price_id}]
    sold = await client.post(f"/api/{merchant[0]}/checkout-sessions/", json=body, headers=bearer(merchant[1]))
    assert sold.status_code == 201, sold.text
    assert (sold.json()["amount_total_atom"], sold.json()["amount_due_today_atom"]) == (0, 0)


async def test_what_metered_prices_cant_do_yet_is_refused_clearly(
    client: httpx.AsyncClient, session: AsyncSession, merchant: tuple[str, str], metered: Metered
) -> None:
    base, headers = f"/api/{merchant[0]}", bearer(merchant[1])
    subscription = await fresh(session, metered.subscription_id)
    metered_item = next(item for item in subscription.items if item.price.usage_type == "metered")
    another = await metered_price(session, merchant[0], meter="tokens")
    await session.commit()

    made = await client.post(
        f"{base}/subscriptions/",
        json={
            "customer_id": metered.customer_id,
            "period_start": START.isoformat(),
            "items": [{"price_id": another, "quantity": 1}],
        },
        headers=headers,
    )
    assert made.status_code == 422, made.text
    assert ("body", "items", 0, "price_id") in _locs(made)

    for change in ({"id": metered_item.id, "deleted": True}, {"price_id": another}):
        items = await client.patch(
            f"{base}/subscriptions/{metered.subscription_id}/items", json={"items": [change]}, headers=headers
        )
        assert items.status_code == 422, items.text
        assert "metered items" in items.json()["detail"][0]["msg"]

    # A checkout that would change the subscription (it sells a product the subscription holds) is refused.
    product = await catalog.get_price(session, merchant[0], metered.price_id)
    upgrade = await catalog.create_price(
        session,
        merchant[0],
        product_id=product.product_id,
        currency="usd",
        unit_amount_atom=9,
        recurring_interval="month",
        usage_type="metered",
        metered_id=METER,
    )
    await session.commit()
    change = await client.post(
        f"{base}/checkout-sessions/",
        json={
            "success_url": "https://shop.example/ok",
            "return_url": "https://shop.example/cart",
            "line_items": [{"price_id": upgrade.id}],
            "customer_id": metered.customer_id,
        },
        headers=headers,
    )
    assert _locs(change) == [("body", "line_items")]
