"""Signed delivery to a real receiver, retries, ordering, secret rolls and redelivery, on both backends.

The worker runs in process (``run_once``) and the frozen clock stands in for waiting: a retry is due when the test
moves time past it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.clock import FrozenClock
from checkstand.db import Database
from checkstand.events.models import Event
from checkstand.settings import Settings
from checkstand.webhooks.models import WebhookDelivery, WebhookEndpoint
from checkstand.worker import Worker
from tests.conftest import bearer
from tests.webhooks.harness import Parcel, Receiver, create_endpoint, parcel_event, quick

Merchant = tuple[str, str]


async def _endpoint(
    client: httpx.AsyncClient, merchant: Merchant, receiver: Receiver, events: list[str] | None = None
) -> dict[str, Any]:
    account_id, key = merchant
    endpoint = await create_endpoint(client, account_id, key, receiver.url, events)
    receiver.trust(endpoint["signing_secret"])
    return endpoint


async def _deliveries(client: httpx.AsyncClient, merchant: Merchant, event_id: str) -> list[dict[str, Any]]:
    account_id, key = merchant
    response = await client.get(f"/api/{account_id}/events/{event_id}/deliveries", headers=bearer(key))
    assert response.status_code == 200
    deliveries: list[dict[str, Any]] = response.json()
    return deliveries


async def _attempts(client: httpx.AsyncClient, merchant: Merchant, event_id: str) -> list[dict[str, Any]]:
    account_id, key = merchant
    (delivery,) = await _deliveries(client, merchant, event_id)
    response = await client.get(
        f"/api/{account_id}/events/{event_id}/deliveries/{delivery['id']}/attempts", headers=bearer(key)
    )
    assert response.status_code == 200
    attempts: list[dict[str, Any]] = response.json()
    return attempts


def _parcel_ids(receiver: Receiver) -> list[str]:
    return [r.webhook_id for r in receiver.received if r.payload["aggregate_type"] == "parcel"]


async def _when_due(client: httpx.AsyncClient, merchant: Merchant, event_id: str, clock: FrozenClock) -> None:
    """Move the clock to the delivery's next retry."""
    (delivery,) = await _deliveries(client, merchant, event_id)
    clock.advance(datetime.fromisoformat(delivery["next_retry_at"]) - clock.now())


async def test_a_delivery_is_signed_and_carries_the_event(
    client: httpx.AsyncClient,
    merchant: Merchant,
    session: AsyncSession,
    receiver: Receiver,
    worker: Worker,
    frozen_clock: FrozenClock,
) -> None:
    endpoint = await _endpoint(client, merchant, receiver)
    event = await parcel_event(session, merchant[0], Parcel())
    await session.commit()

    assert (await worker.run_once())["deliver_webhooks"] == 2  # the endpoint's own creation, then the parcel

    (got,) = [r for r in receiver.received if r.webhook_id == event.id]
    assert got.verified_by == {endpoint["signing_secret"]}
    assert got.signatures == 1
    wire = await client.get(f"/api/{merchant[0]}/events/{event.id}", headers=bearer(merchant[1]))
    assert got.payload == wire.json()
    assert got.payload["data"] == {"id": event.aggregate_id, "state": "new"}
    (delivery,) = await _deliveries(client, merchant, event.id)
    assert delivery["status"] == "succeeded"
    assert delivery["webhook_endpoint_id"] == endpoint["id"]
    assert delivery["webhook_endpoint_url"] == receiver.url
    assert delivery["attempt_count"] == 1
    assert delivery["response_status"] == 200
    assert delivery["delivered_at"] is not None
    assert delivery["next_retry_at"] is None
    (attempt,) = await _attempts(client, merchant, event.id)
    assert attempt["response_status"] == 200
    assert attempt["response_body"] == "ok"
    assert attempt["outcome"] == "succeeded"
    assert attempt["duration_ms"] >= 0
    assert (await worker.run_once())["deliver_webhooks"] == 0


@pytest.mark.parametrize("status", [500, 503, 408, 429])
async def test_retryable_answers_are_retried_with_backoff_and_every_attempt_recorded(
    status: int,
    client: httpx.AsyncClient,
    merchant: Merchant,
    session: AsyncSession,
    receiver: Receiver,
    worker: Worker,
    frozen_clock: FrozenClock,
) -> None:
    await _endpoint(client, merchant, receiver, ["webhook_endpoint.updated"])
    event = await parcel_event(session, merchant[0], Parcel())
    await session.commit()
    # Subscribed to another type: the parcel event is owed to nobody, so record one the endpoint wants.
    assert await _deliveries(client, merchant, event.id) == []
    await _endpoint(client, merchant, receiver)
    event = await parcel_event(session, merchant[0], Parcel())
    await session.commit()
    receiver.answer(status, "x" * 5000)

    await worker.run_once()
    (delivery,) = await _deliveries(client, merchant, event.id)
    assert delivery["status"] == "pending"
    assert delivery["attempt_count"] == 1
    assert delivery["response_status"] == status
    assert delivery["error"] == f"HTTP {status}"
    delay = datetime.fromisoformat(delivery["next_retry_at"]) - frozen_clock.now()
    assert timedelta(seconds=1) <= delay <= timedelta(seconds=2)  # base 2 s, equal jitter: [1, 2]
    assert (await worker.run_once())["deliver_webhooks"] == 0  # not due yet

    await _when_due(client, merchant, event.id, frozen_clock)
    await worker.run_once()
    (delivery,) = await _deliveries(client, merchant, event.id)
    delay = datetime.fromisoformat(delivery["next_retry_at"]) - frozen_clock.now()
    assert timedelta(seconds=2) <= delay <= timedelta(seconds=4)  # doubled

    receiver.answer(200)
    await _when_due(client, merchant, event.id, frozen_clock)
    await worker.run_once()
    attempts = await _attempts(client, merchant, event.id)
    assert [a["number"] for a in attempts] == [1, 2, 3]
    assert [a["outcome"] for a in attempts] == ["pending", "pending", "succeeded"]
    assert [a["response_status"] for a in attempts] == [status, status, 200]
    assert len(attempts[0]["response_body"]) == 2048
    assert (await _deliveries(client, merchant, event.id))[0]["status"] == "succeeded"
    assert receiver.after_ack == []


async def test_timeouts_and_connection_errors_are_retried(
    client: httpx.AsyncClient,
    merchant: Merchant,
    session: AsyncSession,
    receiver: Receiver,
    database: Database,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    worker = Worker(database, quick(settings, webhook_timeout_seconds=1.0))
    await _endpoint(client, merchant, receiver)
    await worker.run_once()
    event = await parcel_event(session, merchant[0], Parcel())
    await session.commit()

    receiver.hang()
    await worker.run_once()
    receiver.wait_until(lambda r: r.holding == 0)  # it saw the sender hang up
    receiver.go_away()
    await _when_due(client, merchant, event.id, frozen_clock)
    await worker.run_once()
    receiver.start()
    receiver.answer(200)
    await _when_due(client, merchant, event.id, frozen_clock)
    await worker.run_once()

    attempts = await _attempts(client, merchant, event.id)
    assert [a["outcome"] for a in attempts] == ["pending", "pending", "succeeded"]
    assert attempts[0]["error"] == "timed out after 1 s"
    assert attempts[0]["response_status"] is None
    assert attempts[0]["duration_ms"] >= 900
    assert attempts[1]["error"].startswith("ConnectError")
    assert list(receiver.processed).count(event.id) == 1


@pytest.mark.parametrize("status", [400, 401, 404, 410, 301])
async def test_other_answers_are_final(
    status: int,
    client: httpx.AsyncClient,
    merchant: Merchant,
    session: AsyncSession,
    receiver: Receiver,
    worker: Worker,
    frozen_clock: FrozenClock,
) -> None:
    await _endpoint(client, merchant, receiver)
    await worker.run_once()
    event = await parcel_event(session, merchant[0], Parcel())
    await session.commit()
    receiver.answer(status, "no")

    await worker.run_once()
    frozen_clock.advance(timedelta(seconds=59))
    await worker.run_once()

    (delivery,) = await _deliveries(client, merchant, event.id)
    assert delivery["status"] == "failed"
    assert delivery["attempt_count"] == 1
    assert delivery["error"] == f"HTTP {status}"
    assert delivery["next_retry_at"] is None
    assert _parcel_ids(receiver) == [event.id]


async def test_retries_stop_after_the_window_and_a_failing_endpoint_is_disabled_once(
    client: httpx.AsyncClient,
    merchant: Merchant,
    session: AsyncSession,
    receiver: Receiver,
    worker: Worker,
    frozen_clock: FrozenClock,
) -> None:
    """Window 60 s, disable after 120 s (see ``quick``): attempts stop within the window, then the endpoint,
    still failing, is disabled with one ``webhook_endpoint.disabled`` event that its neighbours receive."""
    account_id, key = merchant
    endpoint = await _endpoint(client, merchant, receiver)
    with_neighbour = await create_endpoint(client, account_id, key, receiver.url, ["webhook_endpoint.disabled"])
    receiver.trust(endpoint["signing_secret"], with_neighbour["signing_secret"])
    await worker.run_once()
    receiver.answer(500)
    event = await parcel_event(session, account_id, Parcel())
    await session.commit()
    started = frozen_clock.now()

    while (await _deliveries(client, merchant, event.id))[0]["status"] == "pending":
        await _when_due(client, merchant, event.id, frozen_clock)
        await worker.run_once()
    attempts = await _attempts(client, merchant, event.id)
    assert len(attempts) >= 6  # 2 s doubling to 8 s, halved at worst by jitter: at least this many in 60 s
    assert datetime.fromisoformat(attempts[-1]["started_at"]) - started <= timedelta(seconds=60)
    assert attempts[-1]["outcome"] == "failed"
    assert (await _deliveries(client, merchant, event.id))[0]["status"] == "failed"

    frozen_clock.advance(started + timedelta(seconds=119) - frozen_clock.now())
    assert (await worker.run_once())["disable_failing_webhook_endpoints"] == 0
    frozen_clock.advance(timedelta(seconds=2))
    receiver.answer(200)
    assert (await worker.run_once())["disable_failing_webhook_endpoints"] == 1
    assert (await worker.run_once())["disable_failing_webhook_endpoints"] == 0

    got = (await client.get(f"/api/{account_id}/webhook-endpoints/{endpoint['id']}", headers=bearer(key))).json()
    assert got["is_active"] is False
    assert got["disabled_reason"] == "failing"
    disabled = (
        await client.get(
            f"/api/{account_id}/events/", params={"event_type": "webhook_endpoint.disabled"}, headers=bearer(key)
        )
    ).json()
    assert disabled["total"] == 1
    (announcement,) = disabled["items"]
    assert announcement["aggregate_id"] == endpoint["id"]
    assert announcement["previous_data"] == {"disabled_reason": None, "is_active": True}
    assert announcement["id"] in receiver.processed  # told to the neighbour, not to the disabled endpoint
    (told,) = await _deliveries(client, merchant, announcement["id"])
    assert told["webhook_endpoint_id"] == with_neighbour["id"]

    later = await parcel_event(session, account_id, Parcel())
    await session.commit()
    assert await _deliveries(client, merchant, later.id) == []


async def test_a_success_ends_the_failing_run(
    client: httpx.AsyncClient,
    merchant: Merchant,
    session: AsyncSession,
    receiver: Receiver,
    worker: Worker,
    frozen_clock: FrozenClock,
) -> None:
    endpoint = await _endpoint(client, merchant, receiver)
    await worker.run_once()
    receiver.answer(400)
    await parcel_event(session, merchant[0], Parcel())
    await session.commit()
    await worker.run_once()
    frozen_clock.advance(timedelta(seconds=100))
    receiver.answer(200)
    await parcel_event(session, merchant[0], Parcel())
    await session.commit()
    await worker.run_once()
    frozen_clock.advance(timedelta(seconds=100))

    assert (await worker.run_once())["disable_failing_webhook_endpoints"] == 0
    stored = await session.get(WebhookEndpoint, endpoint["id"], populate_existing=True)
    assert stored is not None
    assert stored.is_active
    assert stored.failing_since is None


async def test_receiver_down_then_back_every_event_arrives_once_in_order(
    client: httpx.AsyncClient,
    merchant: Merchant,
    session: AsyncSession,
    receiver: Receiver,
    worker: Worker,
    frozen_clock: FrozenClock,
) -> None:
    account_id, _ = merchant
    await _endpoint(client, merchant, receiver)
    await worker.run_once()
    parcels = [Parcel() for _ in range(5)]
    events = []
    for step in ("packed", "shipped", "delivered", "signed"):
        for parcel in parcels:
            before = {"id": parcel.id, "state": parcel.state}
            parcel.state = step
            events.append(await parcel_event(session, account_id, parcel, f"parcel.{step}", before=before))
    await session.commit()

    receiver.go_away()
    for _ in range(4):
        await worker.run_once()
        frozen_clock.advance(timedelta(seconds=8))
    receiver.start()
    while await _outstanding(session):
        await worker.run_once()
        frozen_clock.advance(timedelta(seconds=8))  # the longest delay between two attempts

    assert set(receiver.processed) >= {event.id for event in events}
    assert receiver.after_ack == []
    for parcel in parcels:
        seen = [r.payload["data"]["state"] for r in receiver.received if r.payload["aggregate_id"] == parcel.id]
        assert seen == ["packed", "shipped", "delivered", "signed"]  # only the first was tried while down
    deliveries = (await session.scalars(select(WebhookDelivery))).all()
    assert {d.status for d in deliveries} == {"succeeded"}
    first = next(d for d in deliveries if d.event_id == events[0].id)
    assert first.attempt_count >= 5  # four refused while the receiver was away, then the success
    assert len(await _attempts(client, merchant, events[0].id)) == first.attempt_count


async def _outstanding(session: AsyncSession) -> int:
    count = await session.scalar(
        select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "pending")
    )
    await session.commit()  # on SQLite an open writing transaction would hold the worker off
    return int(count or 0)


async def test_a_later_event_of_an_aggregate_waits_for_the_earlier_one(
    client: httpx.AsyncClient,
    merchant: Merchant,
    session: AsyncSession,
    receiver: Receiver,
    worker: Worker,
    frozen_clock: FrozenClock,
) -> None:
    account_id, _ = merchant
    await _endpoint(client, merchant, receiver)
    await worker.run_once()
    parcel, other = Parcel(), Parcel()
    created = await parcel_event(session, account_id, parcel, "parcel.created")
    completed = await parcel_event(session, account_id, parcel, "parcel.completed")
    unrelated = await parcel_event(session, account_id, other, "parcel.created")
    await session.commit()
    receiver.answer(503)

    await worker.run_once()
    assert sorted(_parcel_ids(receiver)) == sorted([created.id, unrelated.id])  # completed waits; the other doesn't
    frozen_clock.advance(timedelta(seconds=30))
    receiver.answer(200)
    await worker.run_once()

    assert [i for i in _parcel_ids(receiver) if i != unrelated.id] == [created.id, created.id, completed.id]
    assert list(receiver.processed).index(created.id) < list(receiver.processed).index(completed.id)


async def test_secret_roll_signs_with_both_secrets_during_the_overlap(
    client: httpx.AsyncClient,
    merchant: Merchant,
    session: AsyncSession,
    receiver: Receiver,
    worker: Worker,
    frozen_clock: FrozenClock,
) -> None:
    account_id, key = merchant
    endpoint = await _endpoint(client, merchant, receiver)
    old = endpoint["signing_secret"]
    before_roll = await parcel_event(session, account_id, Parcel())
    await session.commit()
    await worker.run_once()
    receiver.answer(500)
    mid_stream = await parcel_event(session, account_id, Parcel())
    await session.commit()
    await worker.run_once()  # fails, so its retry happens after the roll

    rolled = await client.post(
        f"/api/{account_id}/webhook-endpoints/{endpoint['id']}/roll-secret",
        json={"ttl_seconds": 60},
        headers=bearer(key),
    )
    assert rolled.status_code == 200
    new = rolled.json()["signing_secret"]
    assert new != old
    receiver.trust(old, new)
    receiver.answer(200)
    after_roll = await parcel_event(session, account_id, Parcel())
    await session.commit()
    await _when_due(client, merchant, mid_stream.id, frozen_clock)
    await worker.run_once()
    frozen_clock.advance(timedelta(seconds=61))
    after_overlap = await parcel_event(session, account_id, Parcel())
    await session.commit()
    await worker.run_once()

    def last(event: Event) -> tuple[frozenset[str], int]:
        got = [r for r in receiver.received if r.webhook_id == event.id][-1]
        return got.verified_by, got.signatures

    assert last(before_roll) == ({old}, 1)
    assert last(mid_stream) == ({old, new}, 2)
    assert last(after_roll) == ({old, new}, 2)
    assert last(after_overlap) == ({new}, 1)
    assert set(receiver.processed) >= {before_roll.id, mid_stream.id, after_roll.id, after_overlap.id}


async def test_an_event_can_be_redelivered_by_hand(
    client: httpx.AsyncClient,
    merchant: Merchant,
    session: AsyncSession,
    receiver: Receiver,
    worker: Worker,
    frozen_clock: FrozenClock,
) -> None:
    account_id, key = merchant
    first = await _endpoint(client, merchant, receiver)
    event = await parcel_event(session, account_id, Parcel())
    await session.commit()
    await worker.run_once()
    frozen_clock.advance(timedelta(seconds=1))
    second = await create_endpoint(client, account_id, key, receiver.url)

    again = await client.post(f"/api/{account_id}/events/{event.id}/redeliver", headers=bearer(key))
    assert again.status_code == 200
    assert again.json() == [
        {
            "delivery_id": (await _deliveries(client, merchant, event.id))[0]["id"],
            "endpoint_id": first["id"],
            "endpoint_url": receiver.url,
            "status": "pending",
            "created": False,
        }
    ]
    to_second = await client.post(
        f"/api/{account_id}/events/{event.id}/redeliver",
        json={"webhook_endpoint_id": second["id"]},
        headers=bearer(key),
    )
    assert [(d["endpoint_id"], d["created"]) for d in to_second.json()] == [(second["id"], True)]
    receiver.trust(first["signing_secret"], second["signing_secret"])
    await worker.run_once()

    assert _parcel_ids(receiver) == [event.id, event.id, event.id]
    assert receiver.after_ack.count(event.id) == 2  # asked for: the receiver dedupes on webhook-id
    deliveries = await _deliveries(client, merchant, event.id)
    assert [(d["webhook_endpoint_id"], d["status"], d["attempt_count"]) for d in deliveries] == [
        (first["id"], "succeeded", 2),
        (second["id"], "succeeded", 1),
    ]


async def test_failed_deliveries_since_a_time_can_be_recovered(
    client: httpx.AsyncClient,
    merchant: Merchant,
    session: AsyncSession,
    receiver: Receiver,
    worker: Worker,
    frozen_clock: FrozenClock,
) -> None:
    account_id, key = merchant
    endpoint = await _endpoint(client, merchant, receiver)
    await worker.run_once()
    receiver.answer(410)
    early = await parcel_event(session, account_id, Parcel())
    await session.commit()
    frozen_clock.advance(timedelta(seconds=10))
    since = frozen_clock.now()
    late = [await parcel_event(session, account_id, Parcel()) for _ in range(3)]
    await session.commit()
    await worker.run_once()
    receiver.answer(200)

    recovered = await client.post(
        f"/api/{account_id}/webhook-endpoints/{endpoint['id']}/recover",
        json={"since": since.isoformat()},
        headers=bearer(key),
    )
    assert recovered.status_code == 200
    assert recovered.json() == {"redelivered": 3}
    await worker.run_once()

    assert set(receiver.processed) >= {event.id for event in late}
    assert early.id not in receiver.processed
    assert (await _deliveries(client, merchant, early.id))[0]["status"] == "failed"


async def test_a_deactivated_endpoint_gives_up_what_it_was_owed_and_gets_nothing_new(
    client: httpx.AsyncClient,
    merchant: Merchant,
    session: AsyncSession,
    receiver: Receiver,
    worker: Worker,
    frozen_clock: FrozenClock,
) -> None:
    account_id, key = merchant
    endpoint = await _endpoint(client, merchant, receiver)
    owed = await parcel_event(session, account_id, Parcel())
    await session.commit()

    response = await client.patch(
        f"/api/{account_id}/webhook-endpoints/{endpoint['id']}", json={"is_active": False}, headers=bearer(key)
    )
    assert response.status_code == 200
    later = await parcel_event(session, account_id, Parcel())
    await session.commit()
    assert (await worker.run_once())["deliver_webhooks"] == 0

    (given_up,) = await _deliveries(client, merchant, owed.id)
    assert (given_up["status"], given_up["error"]) == ("failed", "endpoint deactivated")
    assert await _deliveries(client, merchant, later.id) == []
    assert receiver.received == []


async def test_a_change_that_rolls_back_owes_nothing(
    client: httpx.AsyncClient, merchant: Merchant, session: AsyncSession, receiver: Receiver, worker: Worker
) -> None:
    await _endpoint(client, merchant, receiver)
    await worker.run_once()
    await parcel_event(session, merchant[0], Parcel())
    await session.rollback()

    assert (await worker.run_once())["deliver_webhooks"] == 0
    assert await session.scalar(select(func.count()).select_from(Event).where(Event.aggregate_type == "parcel")) == 0
    assert _parcel_ids(receiver) == []
