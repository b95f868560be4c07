"""``webhook-endpoints/`` through the PaymentKit dialect, in process: secrets, validation, lifecycle, tenancy."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from checkstand.accounts import service as accounts
from checkstand.core.clock import FrozenClock
from checkstand.events.models import Event
from checkstand.events.types import EVENT_TYPES
from checkstand.webhooks.models import WebhookEndpoint, WebhookEndpointSecret
from tests.conftest import bearer

Merchant = tuple[str, str]
URL = "https://merchant.example/hooks"


async def _create(client: httpx.AsyncClient, merchant: Merchant, **body: Any) -> dict[str, Any]:
    account_id, key = merchant
    response = await client.post(
        f"/api/{account_id}/webhook-endpoints/", json={"url": URL, "events": ["*"], **body}, headers=bearer(key)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _events(client: httpx.AsyncClient, merchant: Merchant, **params: str) -> list[dict[str, Any]]:
    account_id, key = merchant
    response = await client.get(f"/api/{account_id}/events/", params=params, headers=bearer(key))
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_the_secret_is_shown_at_creation_and_sealed_at_rest(
    client: httpx.AsyncClient, merchant: Merchant, session: AsyncSession
) -> None:
    account_id, key = merchant
    created = await _create(client, merchant, description="orders", events=["checkout_session.completed"])

    secret = created["signing_secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    Webhook(secret)  # the format Standard Webhooks libraries accept
    assert created["id"].startswith("we_")
    assert (created["url"], created["description"], created["events"]) == (
        URL,
        "orders",
        ["checkout_session.completed"],
    )
    assert (created["is_active"], created["is_protected"], created["disabled_reason"]) == (True, False, None)
    got = await client.get(f"/api/{account_id}/webhook-endpoints/{created['id']}", headers=bearer(key))
    listed = await client.get(f"/api/{account_id}/webhook-endpoints/", headers=bearer(key))
    assert "signing_secret" not in got.json()
    assert secret not in got.text
    assert secret not in listed.text
    revealed = await client.get(
        f"/api/{account_id}/webhook-endpoints/{created['id']}/reveal-secret", headers=bearer(key)
    )
    assert revealed.json()["signing_secret"] == secret
    sealed = await session.scalar(select(WebhookEndpointSecret.sealed_secret))
    assert sealed is not None
    assert secret.removeprefix("whsec_") not in sealed
    (event,) = await _events(client, merchant, event_type="webhook_endpoint.created")
    assert event["data"] == got.json()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"url": "ftp://merchant.example/hooks"}, ["body", "url"]),
        ({"url": "/hooks"}, ["body", "url"]),
        ({"url": "https://user:password@merchant.example/hooks"}, ["body", "url"]),
        ({"url": "https://token@merchant.example/hooks"}, ["body", "url"]),
        ({"url": "https://merchant.example/ho oks"}, ["body", "url"]),
        ({"url": "https://merchant.example:99999/hooks"}, ["body", "url"]),
        ({"url": "https://merchant.example/" + "x" * 2048}, ["body", "url"]),
        ({"events": []}, ["body", "events"]),
        ({"events": ["checkout_session.created", "checkout_session.exploded"]}, ["body", "events", 1]),
        ({"description": "x" * 501}, ["body", "description"]),
        ({"secret": "whsec_mine"}, ["body", "secret"]),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, merchant: Merchant, session: AsyncSession, body: dict[str, Any], loc: list[Any]
) -> None:
    account_id, key = merchant
    response = await client.post(
        f"/api/{account_id}/webhook-endpoints/", json={"url": URL, "events": ["*"], **body}, headers=bearer(key)
    )
    assert response.status_code == 422
    assert [problem["loc"] for problem in response.json()["detail"]] == [loc]
    assert await session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0
    assert await session.scalar(select(func.count()).select_from(Event)) == 0


async def test_an_update_is_announced_with_what_it_changed(client: httpx.AsyncClient, merchant: Merchant) -> None:
    account_id, key = merchant
    created = await _create(client, merchant, description="orders")
    path = f"/api/{account_id}/webhook-endpoints/{created['id']}"

    changed = await client.patch(
        path, json={"url": "http://127.0.0.1:9000/in", "events": ["payment.succeeded"]}, headers=bearer(key)
    )
    assert changed.status_code == 200
    assert (changed.json()["url"], changed.json()["events"]) == ("http://127.0.0.1:9000/in", ["payment.succeeded"])
    # The SDK sends null for a parameter passed as None: url and events stay, description is cleared.
    nulls = await client.patch(path, json={"url": None, "events": None, "description": None}, headers=bearer(key))
    assert nulls.status_code == 200
    assert (nulls.json()["url"], nulls.json()["description"]) == ("http://127.0.0.1:9000/in", None)
    same = await client.patch(path, json={"is_active": True}, headers=bearer(key))
    assert same.status_code == 200

    updates = await _events(client, merchant, event_type="webhook_endpoint.updated")
    assert [u["previous_data"] for u in updates] == [
        {"description": "orders"},
        {"events": ["*"], "url": URL},
    ]
    assert updates[0]["data"] == nulls.json()
    refused = await client.patch(path, json={"url": "mailto:ops@merchant.example"}, headers=bearer(key))
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "url"]


async def test_delete_deactivates_for_good(client: httpx.AsyncClient, merchant: Merchant) -> None:
    account_id, key = merchant
    created = await _create(client, merchant)
    path = f"/api/{account_id}/webhook-endpoints/{created['id']}"

    deleted = await client.delete(path, headers=bearer(key))
    assert deleted.status_code == 200
    assert (deleted.json()["is_active"], deleted.json()["disabled_reason"]) == (False, "deleted")
    assert (await client.get(path, headers=bearer(key))).json()["is_active"] is False
    for method, suffix, body in (
        ("PATCH", "", {"is_active": True}),
        ("DELETE", "", None),
        ("POST", "/roll-secret", {}),
        ("POST", "/recover", {"since": "2026-01-01T00:00:00Z"}),
    ):
        refused = await client.request(method, path + suffix, json=body, headers=bearer(key))
        assert refused.status_code == 409
        assert refused.json()["code"] == "webhook_endpoint_deleted"
    assert len(await _events(client, merchant, event_type="webhook_endpoint.deleted")) == 1


async def test_reactivating_an_endpoint_starts_it_afresh(client: httpx.AsyncClient, merchant: Merchant) -> None:
    account_id, key = merchant
    created = await _create(client, merchant)
    path = f"/api/{account_id}/webhook-endpoints/{created['id']}"
    off = await client.patch(path, json={"is_active": False}, headers=bearer(key))
    assert (off.json()["is_active"], off.json()["disabled_reason"]) == (False, "deactivated")
    on = await client.patch(path, json={"is_active": True}, headers=bearer(key))
    assert (on.json()["is_active"], on.json()["disabled_reason"]) == (True, None)


async def _expiries(session: AsyncSession) -> list[datetime | None]:
    """Every secret's end, soonest first; None (signs until the next roll) last."""
    ends = (await session.scalars(select(WebhookEndpointSecret.expires_at))).all()
    await session.commit()  # on SQLite an open writing transaction would hold the next request off
    return sorted(ends, key=lambda end: (end is None, end))


async def test_a_roll_keeps_the_old_secret_signing_for_the_overlap(
    client: httpx.AsyncClient, merchant: Merchant, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    account_id, key = merchant
    created = await _create(client, merchant)
    path = f"/api/{account_id}/webhook-endpoints/{created['id']}"

    first_roll = await client.post(f"{path}/roll-secret", headers=bearer(key))
    assert first_roll.status_code == 200
    second = first_roll.json()["signing_secret"]
    assert second not in (created["signing_secret"], None)
    assert (await client.get(f"{path}/reveal-secret", headers=bearer(key))).json()["signing_secret"] == second
    assert await _expiries(session) == [frozen_clock.now() + timedelta(hours=24), None]

    frozen_clock.advance(timedelta(hours=1))
    third = (await client.post(f"{path}/roll-secret", json={"ttl_seconds": 600}, headers=bearer(key))).json()
    assert third["signing_secret"] not in (created["signing_secret"], second)
    # A short overlap (after a leak, say) ends every older secret by then.
    soon = frozen_clock.now() + timedelta(minutes=10)
    assert await _expiries(session) == [soon, soon, None]
    await client.post(f"{path}/roll-secret", headers=bearer(key))
    # A longer one never extends a secret already due to end.
    assert await _expiries(session) == [soon, soon, frozen_clock.now() + timedelta(hours=24), None]

    too_long = await client.post(f"{path}/roll-secret", json={"ttl_seconds": 8 * 24 * 3600}, headers=bearer(key))
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["loc"] == ["body", "ttl_seconds"]


async def test_list_pages_filters_and_searches(client: httpx.AsyncClient, merchant: Merchant) -> None:
    account_id, key = merchant
    first = await _create(client, merchant, url="https://a.example/hooks")
    second = await _create(client, merchant, url="https://b.example/hooks", description="billing")
    third = await _create(client, merchant, url="https://c.example/hooks")
    await client.delete(f"/api/{account_id}/webhook-endpoints/{second['id']}", headers=bearer(key))
    path = f"/api/{account_id}/webhook-endpoints/"

    page = (await client.get(path, params={"limit": 2}, headers=bearer(key))).json()
    assert [e["id"] for e in page["items"]] == [third["id"], second["id"]]
    assert (page["total"], page["has_more"]) == (3, True)
    inactive = (await client.get(path, params={"filter": '{"is_active": false}'}, headers=bearer(key))).json()
    assert [e["id"] for e in inactive["items"]] == [second["id"]]
    found = (await client.get(path, params={"search": "BILL"}, headers=bearer(key))).json()
    assert [e["id"] for e in found["items"]] == [second["id"]]
    oldest = (await client.get(path, params={"sortBy": "created_at", "sortOrder": 1}, headers=bearer(key))).json()
    assert oldest["items"][0]["id"] == first["id"]
    bad = await client.get(path, params={"sortBy": "secret"}, headers=bearer(key))
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "sortBy"]


async def test_event_types_lists_what_checkstand_sends(client: httpx.AsyncClient, merchant: Merchant) -> None:
    account_id, key = merchant
    response = await client.get(f"/api/{account_id}/webhook-endpoints/event-types", headers=bearer(key))
    assert response.status_code == 200
    listed = {entry["type"] for entry in response.json()}
    assert listed == set(EVENT_TYPES)
    assert listed >= {
        "checkout_session.created",
        "checkout_session.completed",
        "checkout_session.expired",
        "checkout_attempt.failed",
        "payment.succeeded",
        "payment.failed",
        "customer.created",
        "subscription.created",
        "product.created",
        "product.updated",
        "price.created",
        "price.updated",
        "webhook_endpoint.disabled",
    }
    assert all(entry["description"] for entry in response.json())


async def test_recover_checks_its_window(client: httpx.AsyncClient, merchant: Merchant) -> None:
    account_id, key = merchant
    created = await _create(client, merchant)
    path = f"/api/{account_id}/webhook-endpoints/{created['id']}/recover"
    backwards = await client.post(
        path, json={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, headers=bearer(key)
    )
    assert backwards.status_code == 422
    assert backwards.json()["detail"][0]["loc"] == ["body", "until"]
    naive = await client.post(path, json={"since": "2026-01-02T00:00:00"}, headers=bearer(key))
    assert naive.status_code == 422
    assert naive.json()["detail"][0]["loc"] == ["body", "since"]
    await client.patch(
        f"/api/{account_id}/webhook-endpoints/{created['id']}", json={"is_active": False}, headers=bearer(key)
    )
    inactive = await client.post(path, json={"since": "2026-01-02T00:00:00Z"}, headers=bearer(key))
    assert inactive.status_code == 409
    assert inactive.json()["code"] == "webhook_endpoint_inactive"


async def test_another_accounts_endpoints_are_not_found(
    client: httpx.AsyncClient, merchant: Merchant, session: AsyncSession
) -> None:
    other = await accounts.create_account(session, name="Other")
    other_key = (await accounts.create_api_key(session, other)).secret
    await session.commit()
    theirs = await _create(client, (other.id, other_key))
    account_id, key = merchant

    for method, suffix, body in (
        ("GET", "", None),
        ("PATCH", "", {"description": "mine now"}),
        ("DELETE", "", None),
        ("GET", "/reveal-secret", None),
        ("POST", "/roll-secret", {}),
        ("POST", "/recover", {"since": "2026-01-01T00:00:00Z"}),
    ):
        response = await client.request(
            method, f"/api/{account_id}/webhook-endpoints/{theirs['id']}{suffix}", json=body, headers=bearer(key)
        )
        assert response.status_code == 404
        assert response.json()["code"] == "webhook_endpoint_not_found"
        assert theirs["signing_secret"] not in response.text
    listed = await client.get(f"/api/{other.id}/webhook-endpoints/", headers=bearer(key))
    assert listed.status_code == 404
    mine = await client.get(f"/api/{account_id}/webhook-endpoints/", headers=bearer(key))
    assert mine.json()["total"] == 0
    untouched = await client.get(f"/api/{other.id}/webhook-endpoints/{theirs['id']}", headers=bearer(other_key))
    assert untouched.json()["description"] is None
