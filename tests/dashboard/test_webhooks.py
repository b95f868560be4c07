"""Webhook endpoints and events in the dashboard: created through the API's service (its URL check and
messages), the signing secret shown once, each delivery's attempts in the log, a roll with the service's overlap,
redelivery, Paid's endpoints read-only, and no endpoint or event of another account."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.ids import new_id
from checkstand.webhooks.models import PAID, PENDING, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from tests.conftest import bearer
from tests.dashboard.helpers import make_user, page_csrf, sign_in

NEW = "/dashboard/webhook-endpoints/new"


async def _create(client: httpx.AsyncClient, url: str, events: list[str]) -> httpx.Response:
    csrf = await page_csrf(client, NEW)
    return await client.post(NEW, data={"csrf_token": csrf, "url": url, "events": events, "description": "shop"})


async def test_a_refused_url_gets_the_apis_message(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    api = await client.post(
        f"/api/{user.account_id}/webhook-endpoints/",
        json={"url": "https://user:pw@hooks.example/hook", "events": ["*"]},
        headers=bearer(user.secret),
    )
    assert api.status_code == 422
    message = api.json()["detail"][0]["msg"]
    refused = await _create(client, "https://user:pw@hooks.example/hook", ["*"])
    assert refused.status_code == 422
    assert 'aria-describedby="url-error"' in refused.text
    assert message.replace("'", "&#39;") in refused.text
    no_events = await _create(client, "https://hooks.example/in", [])
    assert no_events.status_code == 422
    assert 'id="events-error"' in no_events.text
    assert (
        await session.scalar(select(WebhookEndpoint.id).where(WebhookEndpoint.account_id == user.account_id))
    ) is None


async def test_create_shows_the_secret_once_then_log_roll_and_redeliver(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    created = await _create(client, "https://hooks.example/in", ["customer.created"])
    assert created.status_code == 201, created.text
    assert "whsec_" in created.text
    assert "not shown again" in created.text
    endpoint = await session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.account_id == user.account_id))
    assert endpoint is not None
    await session.commit()  # ends the test's read: on SQLite the app's writes would wait on it
    detail_path = f"/dashboard/webhook-endpoints/{endpoint.id}"
    assert "whsec_" not in (await client.get(detail_path)).text
    listing = await client.get("/dashboard/webhook-endpoints?status=active&q=hooks.example")
    assert f'href="{detail_path}"' in listing.text

    customer = await client.post(
        f"/api/{user.account_id}/customers/", json={"email": "c@shop.example"}, headers=bearer(user.secret)
    )
    assert customer.status_code in (200, 201), customer.text
    delivery = await session.scalar(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    assert delivery is not None
    delivery.status = "failed"
    delivery.attempt_count = 1
    session.add(
        WebhookDeliveryAttempt(
            id=new_id("whda"),
            account_id=user.account_id,
            delivery_id=delivery.id,
            number=1,
            worker_id="w1",
            url=endpoint.url,
            started_at=clock.now(),
            duration_ms=321,
            response_status=503,
            response_body="down",
            error="HTTP 503",
            outcome="failed",
        )
    )
    await session.commit()
    log = await client.get(detail_path)
    assert "customer.created" in log.text
    assert "HTTP 503" in log.text
    assert "321 ms" in log.text

    csrf = await page_csrf(client, detail_path)
    rolled = await client.post(f"{detail_path}/roll-secret", data={"csrf_token": csrf})
    assert rolled.status_code == 200
    assert "whsec_" in rolled.text
    assert "24 hours" in rolled.text
    assert (await client.post(f"{detail_path}/roll-secret", data={})).status_code == 403

    again = await client.post(f"{detail_path}/redeliver", data={"csrf_token": csrf, "event_id": delivery.event_id})
    assert again.status_code == 303
    await session.refresh(delivery)
    assert delivery.status == PENDING
    await session.commit()

    event_page = await client.get(f"/dashboard/events/{delivery.event_id}")
    assert event_page.status_code == 200
    assert "c@shop.example" in event_page.text
    assert endpoint.url in event_page.text
    typed = await client.get("/dashboard/events?type=customer.created")
    assert f'href="/dashboard/events/{delivery.event_id}"' in typed.text
    by_object = await client.get(f"/dashboard/events?object={customer.json()['id']}")
    assert delivery.event_id in by_object.text


async def test_the_payload_is_escaped(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    made = await client.post(
        f"/api/{user.account_id}/customers/",
        json={"email": "x@shop.example", "first_name": "<script>alert(1)</script>"},
        headers=bearer(user.secret),
    )
    assert made.status_code in (200, 201), made.text
    listing = await client.get(f"/dashboard/events?object={made.json()['id']}")
    event_id = listing.text.split('href="/dashboard/events/')[1].split('"')[0]
    page = await client.get(f"/dashboard/events/{event_id}")
    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_a_paid_endpoint_is_read_only(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    paid = WebhookEndpoint(
        id=new_id("we"),
        account_id=user.account_id,
        url="https://hooks.example/paid",
        events=["*"],
        is_active=True,
        dialect=PAID,
        paid_name="billing-checkout-completed",
    )
    session.add(paid)
    await session.commit()
    path = f"/dashboard/webhook-endpoints/{paid.id}"
    page = await client.get(path)
    assert "read-only" in page.text
    assert "Roll signing secret" not in page.text
    refused = await client.post(f"{path}/roll-secret", data={"csrf_token": await page_csrf(client, path)})
    assert refused.status_code == 409


async def test_another_accounts_endpoint_and_event_are_not_found(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session, email="owner@a.example", name="A")
    other = await make_user(session, email="other@b.example", name="B")
    await sign_in(client, owner.email)
    await _create(client, "https://hooks.example/a", ["*"])
    endpoint = await session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.account_id == owner.account_id))
    assert endpoint is not None
    await session.commit()
    event_id = (await client.get(f"/api/{owner.account_id}/events/", headers=bearer(owner.secret))).json()["items"][0][
        "id"
    ]
    await client.post("/dashboard/sign-out", data={"csrf_token": await page_csrf(client)})
    await sign_in(client, other.email)
    path = f"/dashboard/webhook-endpoints/{endpoint.id}"
    assert (await client.get(path)).status_code == 404
    assert (await client.get(f"/dashboard/events/{event_id}")).status_code == 404
    csrf = await page_csrf(client)
    assert (await client.post(f"{path}/roll-secret", data={"csrf_token": csrf})).status_code == 404
    redelivered = await client.post(f"{path}/redeliver", data={"csrf_token": csrf, "event_id": event_id})
    assert redelivered.status_code == 404
    assert endpoint.url not in (await client.get("/dashboard/webhook-endpoints")).text
