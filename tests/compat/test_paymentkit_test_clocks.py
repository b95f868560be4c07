"""Test clocks over HTTP against a real server (the SDK has no client for them), with customers attached through
the SDK's ``create_customer``: the advance answers once the server's worker has billed the clock's customers up to
the new time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from payment_kit import PaymentKit
from sqlalchemy import select

from checkstand.invoices.models import SUBSCRIPTION_CYCLE, Invoice
from checkstand.subscriptions.models import Subscription
from tests.invoices.factory import billing
from tests.support import Server, connect_url

START = datetime(2028, 1, 31, 10, 0, tzinfo=UTC)


def _api(server: Server, account_id: str, secret: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.base_url}/api/{account_id}/test-clocks",
        headers={"Authorization": f"Bearer {secret}"},
        timeout=60,
    )


def test_clock_lifecycle_and_customers_on_it(server: Server) -> None:
    account_id, secret = server.new_account()
    client = PaymentKit(base_url=server.base_url, token=secret, timeout=30)
    with _api(server, account_id, secret) as api:
        created = api.post("/", json={"name": "Leap year", "frozen_time": START.isoformat()})
        assert created.status_code == 201, created.text
        clock = created.json()
        assert (clock["status"], clock["name"]) == ("ready", "Leap year")
        assert datetime.fromisoformat(clock["frozen_time"]) == START

        customer = client.customers.create_customer(
            account_id,
            email="clocked@example.com",
            request_options={"additional_body_parameters": {"test_clock_id": clock["id"]}},
        )
        assert customer.model_extra is not None
        assert customer.model_extra["test_clock_id"] == clock["id"]

        assert [c["id"] for c in api.get("/").json()["items"]] == [clock["id"]]
        assert api.get(f"/{clock['id']}").json()["frozen_time"] == clock["frozen_time"]

        backwards = api.post(f"/{clock['id']}/advance", json={"frozen_time": "2027-01-01T00:00:00Z"})
        assert backwards.status_code == 422
        advanced = api.post(f"/{clock['id']}/advance", json={"frozen_time": "2028-03-01T00:00:00Z"})
        assert advanced.status_code == 200, advanced.text
        assert advanced.json()["status"] == "ready"

        deleted = api.delete(f"/{clock['id']}")
        assert deleted.json()["deleted"] is True
        assert api.get(f"/{clock['id']}").status_code == 404


def test_advancing_a_clock_renews_its_customers_subscriptions(server: Server) -> None:
    account_id, secret = server.new_account()
    client = PaymentKit(base_url=server.base_url, token=secret, timeout=30)

    async def subscribe() -> tuple[str, str]:
        database = connect_url(server.database_url)
        try:
            async with database.writing() as session:
                made = await billing(database, session, account_id, frozen_time=START)
                assert made.clock_id is not None
                return made.clock_id, made.subscription_id
        finally:
            await database.dispose()

    async def invoices_of(subscription_id: str) -> tuple[list[datetime | None], datetime]:
        database = connect_url(server.database_url)
        try:
            async with database.reading() as session:
                found = await session.scalars(
                    select(Invoice.period_end)
                    .where(Invoice.subscription_id == subscription_id, Invoice.billing_reason == SUBSCRIPTION_CYCLE)
                    .order_by(Invoice.period_start)
                )
                subscription = await session.get(Subscription, subscription_id)
                assert subscription is not None
                return list(found), subscription.current_period_end
        finally:
            await database.dispose()

    clock_id, subscription_id = asyncio.run(subscribe())
    with _api(server, account_id, secret) as api:
        advanced = api.post(f"/{clock_id}/advance", json={"frozen_time": "2028-05-01T00:00:00Z"})
        assert advanced.status_code == 200, advanced.text
        assert advanced.json()["status"] == "ready"

    ends, current_end = asyncio.run(invoices_of(subscription_id))
    assert [(e.month, e.day) for e in ends if e is not None] == [(3, 31), (4, 30), (5, 31)]
    assert current_end == datetime(2028, 5, 31, 10, 0, tzinfo=UTC)
    got = client.subscriptions.get_subscription(account_id, subscription_id)
    assert got.state == "active"
