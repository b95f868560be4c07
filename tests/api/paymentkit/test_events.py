"""``events/`` through the PaymentKit dialect, in process: the log, its filters, deliveries and redelivery."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.core.clock import FrozenClock
from checkstand.events.models import Event
from tests.conftest import bearer
from tests.webhooks.harness import Parcel, create_endpoint, parcel_event

Merchant = tuple[str, str]


async def _list(client: httpx.AsyncClient, merchant: Merchant, **params: Any) -> dict[str, Any]:
    account_id, key = merchant
    response = await client.get(f"/api/{account_id}/events/", params=params, headers=bearer(key))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def _recorded(session: AsyncSession, account_id: str, clock: FrozenClock) -> list[Event]:
    """Four events of two parcels, a second apart: packed, packed, shipped, shipped."""
    first, second = Parcel(), Parcel()
    events = []
    for parcel in (first, second):
        events.append(await parcel_event(session, account_id, parcel, "parcel.packed"))
        clock.advance(timedelta(seconds=1))
    for parcel in (first, second):
        before = {"id": parcel.id, "state": parcel.state}
        parcel.state = "shipped"
        events.append(await parcel_event(session, account_id, parcel, "parcel.shipped", before=before))
        clock.advance(timedelta(seconds=1))
    await session.commit()
    return events


async def test_the_log_is_newest_first_with_the_whole_object_and_what_changed(
    client: httpx.AsyncClient, merchant: Merchant, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    events = await _recorded(session, merchant[0], frozen_clock)

    page = await _list(client, merchant)
    assert [e["id"] for e in page["items"]] == [e.id for e in reversed(events)]
    assert (page["total"], page["has_more"]) == (4, False)
    shipped = page["items"][0]
    assert shipped == {
        "id": events[3].id,
        "type": "parcel.shipped",
        "aggregate_type": "parcel",
        "aggregate_id": events[3].aggregate_id,
        "data": {"id": events[3].aggregate_id, "state": "shipped"},
        "previous_data": {"state": "new"},
        "metadata": {},
        "correlation_id": None,
        "version": 1,
        "created": shipped["created"],
    }
    assert page["items"][3]["previous_data"] is None
    got = await client.get(f"/api/{merchant[0]}/events/{events[3].id}", headers=bearer(merchant[1]))
    assert got.json() == shipped


async def test_the_log_filters_sorts_searches_and_pages(
    client: httpx.AsyncClient, merchant: Merchant, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    events = await _recorded(session, merchant[0], frozen_clock)
    ids = [e.id for e in events]

    def listed(page: dict[str, Any]) -> list[str]:
        return [e["id"] for e in page["items"]]

    assert listed(await _list(client, merchant, event_type="parcel.packed")) == [ids[1], ids[0]]
    assert listed(await _list(client, merchant, aggregate_id=events[0].aggregate_id)) == [ids[2], ids[0]]
    assert listed(await _list(client, merchant, event_id=ids[1])) == [ids[1]]
    assert (await _list(client, merchant, aggregate_type="customer"))["total"] == 0
    assert listed(await _list(client, merchant, filter='{"type": "parcel.shipped"}')) == [ids[3], ids[2]]
    assert listed(await _list(client, merchant, search=events[1].aggregate_id[-10:])) == [ids[3], ids[1]]
    assert listed(await _list(client, merchant, sortBy="created", sortOrder=1)) == ids
    page = await _list(client, merchant, limit=3, offset=1)
    assert (listed(page), page["total"], page["has_more"]) == ([ids[2], ids[1], ids[0]], 4, False)
    page = await _list(client, merchant, limit=2)
    assert page["has_more"] is True

    account_id, key = merchant
    for params, loc in (
        ({"filter": '{"data": "x"}'}, ["query", "filter"]),
        ({"sortBy": "data"}, ["query", "sortBy"]),
        ({"limit": 0}, ["query", "limit"]),
    ):
        bad = await client.get(f"/api/{account_id}/events/", params=params, headers=bearer(key))
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == loc


async def test_an_event_shows_its_deliveries(
    client: httpx.AsyncClient, merchant: Merchant, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    account_id, key = merchant
    endpoint = await create_endpoint(client, account_id, key, "https://merchant.example/hooks")
    await create_endpoint(client, account_id, key, "https://merchant.example/other", ["payment.failed"])
    event = await parcel_event(session, account_id, Parcel())
    await session.commit()

    deliveries = await client.get(f"/api/{account_id}/events/{event.id}/deliveries", headers=bearer(key))
    assert deliveries.status_code == 200
    (delivery,) = deliveries.json()
    assert delivery["id"].startswith("whd_")
    assert (delivery["event_id"], delivery["webhook_endpoint_id"]) == (event.id, endpoint["id"])
    assert (delivery["status"], delivery["attempt_count"]) == ("pending", 0)
    assert delivery["next_retry_at"] == delivery["created"]  # due at once
    full = await client.get(f"/api/{account_id}/events/{event.id}/full", headers=bearer(key))
    assert full.json()["deliveries"] == deliveries.json()
    assert full.json()["event"]["id"] == event.id
    attempts = await client.get(
        f"/api/{account_id}/events/{event.id}/deliveries/{delivery['id']}/attempts", headers=bearer(key)
    )
    assert attempts.json() == []


async def test_redelivery_refuses_what_it_cannot_do(
    client: httpx.AsyncClient, merchant: Merchant, session: AsyncSession
) -> None:
    account_id, key = merchant
    narrow = await create_endpoint(client, account_id, key, "https://merchant.example/hooks", ["payment.failed"])
    off = await create_endpoint(client, account_id, key, "https://merchant.example/off")
    await client.patch(
        f"/api/{account_id}/webhook-endpoints/{off['id']}", json={"is_active": False}, headers=bearer(key)
    )
    event = await parcel_event(session, account_id, Parcel())
    await session.commit()
    path = f"/api/{account_id}/events/{event.id}/redeliver"

    unsubscribed = await client.post(path, json={"webhook_endpoint_id": narrow["id"]}, headers=bearer(key))
    assert unsubscribed.status_code == 422
    assert unsubscribed.json()["detail"][0]["loc"] == ["body", "webhook_endpoint_id"]
    inactive = await client.post(path, json={"webhook_endpoint_id": off["id"]}, headers=bearer(key))
    assert (inactive.status_code, inactive.json()["code"]) == (409, "webhook_endpoint_inactive")
    unknown = await client.post(path, json={"webhook_endpoint_id": "we_nope"}, headers=bearer(key))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "webhook_endpoint_not_found")
    extra = await client.post(path, json={"endpoint": narrow["id"]}, headers=bearer(key))
    assert extra.status_code == 422
    assert extra.json()["detail"][0]["loc"] == ["body", "endpoint"]
    nowhere = await client.post(path, headers=bearer(key))
    assert (nowhere.status_code, nowhere.json()) == (200, [])
    assert (await client.get(f"/api/{account_id}/events/{event.id}/deliveries", headers=bearer(key))).json() == []


async def test_another_accounts_events_are_not_found(
    client: httpx.AsyncClient, merchant: Merchant, session: AsyncSession
) -> None:
    other = await accounts.create_account(session, name="Other")
    other_key = (await accounts.create_api_key(session, other)).secret
    await session.commit()
    await create_endpoint(client, other.id, other_key, "https://other.example/hooks")
    theirs = await parcel_event(session, other.id, Parcel())
    await session.commit()
    (delivery,) = (await client.get(f"/api/{other.id}/events/{theirs.id}/deliveries", headers=bearer(other_key))).json()
    account_id, key = merchant

    for method, suffix in (
        ("GET", ""),
        ("GET", "/deliveries"),
        ("GET", "/full"),
        ("GET", f"/deliveries/{delivery['id']}/attempts"),
        ("POST", "/redeliver"),
    ):
        response = await client.request(method, f"/api/{account_id}/events/{theirs.id}{suffix}", headers=bearer(key))
        assert response.status_code == 404
        assert theirs.aggregate_id not in response.text
    assert (await _list(client, merchant))["total"] == 0
    assert (await client.get(f"/api/{other.id}/events/", headers=bearer(key))).status_code == 404
