"""The worker as it runs in production: several side by side, killed mid-delivery, stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.checkout import service as checkout
from checkstand.core.clock import FrozenClock
from checkstand.core.crypto import SecretBox
from checkstand.db import Database
from checkstand.events.models import Event
from checkstand.settings import Settings
from checkstand.webhooks import endpoints
from checkstand.webhooks.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from checkstand.worker import Worker
from tests import support
from tests.conftest import bearer
from tests.shop import Shop
from tests.webhooks.harness import Parcel, Receiver, create_endpoint, parcel_event, quick, running_receiver

STEPS = ("packed", "shipped", "delivered", "signed")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def _side_by_side(backend: str) -> int:
    """PostgreSQL runs any number of workers; SQLite deployments run one."""
    return 4 if backend == "postgresql" else 1


async def test_workers_side_by_side_deliver_each_event_exactly_once_in_order(
    backend: str,
    database_url: str,
    settings: Settings,
    client: httpx.AsyncClient,
    merchant: tuple[str, str],
    session: AsyncSession,
    receiver: Receiver,
) -> None:
    """1,000 events (250 parcels, four events each) to one receiver: each arrives once, no attempt is repeated,
    and each parcel's events arrive in the order they happened, however the workers split the work."""
    account_id, key = merchant
    endpoint = await create_endpoint(client, account_id, key, receiver.url, ["webhook_endpoint.updated"])
    receiver.trust(endpoint["signing_secret"])
    await client.patch(
        f"/api/{account_id}/webhook-endpoints/{endpoint['id']}",
        json={"events": ["*"]},
        headers=bearer(key),
    )
    parcels = [Parcel() for _ in range(250)]
    for step in STEPS:
        for parcel in parcels:
            before = {"id": parcel.id, "state": parcel.state}
            parcel.state = step
            await parcel_event(session, account_id, parcel, f"parcel.{step}", before=before)
    await session.commit()
    expected = 1 + 1000  # the endpoint's update, then the parcels

    databases = [support.connect_url(database_url) for _ in range(_side_by_side(backend))]
    # A generous timeout: a slow answer on a busy machine must not pass for a duplicate claim.
    fast = quick(settings, webhook_poll_seconds=0.05, webhook_concurrency=16, webhook_timeout_seconds=30)
    workers = [Worker(db, fast) for db in databases]
    running = [asyncio.create_task(worker.run()) for worker in workers]
    try:
        deadline = time.monotonic() + 120
        while len(receiver.processed) < expected:
            assert time.monotonic() < deadline, f"{len(receiver.processed)} of {expected} delivered"
            assert not any(task.done() for task in running)
            await asyncio.sleep(0.05)
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.gather(*running)
        for db in databases:
            await db.dispose()

    assert len(receiver.received) == expected  # no request twice
    assert receiver.after_ack == []
    attempts = (await session.scalars(select(WebhookDeliveryAttempt))).all()
    assert len(attempts) == expected
    assert {a.outcome for a in attempts} == {"succeeded"}
    assert len({a.worker_id for a in attempts}) == len(workers)  # they really shared the work
    statuses = await session.execute(select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status))
    assert dict(statuses.all()) == {"succeeded": expected}
    arrivals: dict[str, list[str]] = {}
    for got in (r for r in receiver.received if r.payload["aggregate_type"] == "parcel"):
        arrivals.setdefault(got.payload["aggregate_id"], []).append(got.payload["data"]["state"])
    assert all(arrivals[parcel.id] == list(STEPS) for parcel in parcels)


async def test_workers_side_by_side_disable_each_failing_endpoint_once(
    database_url: str, settings: Settings, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    """500 endpoints fail for longer than allowed; four workers sweep at once (on PostgreSQL they contend through
    ``SKIP LOCKED``, on SQLite through its write lock): each endpoint is disabled, and announced, exactly once."""
    account = await accounts.create_account(session, name="Many endpoints")
    box = SecretBox(settings.resolved_secret_key)
    failing = []
    for n in range(500):
        created = await endpoints.create_endpoint(
            session,
            account.id,
            url=f"https://merchant.example/{n}",
            events=["checkout_session.completed"],
            description=None,
            box=box,
        )
        await endpoints.mark_failing(session, created.endpoint.id, frozen_clock.now())
        failing.append(created.endpoint.id)
    await session.commit()
    frozen_clock.advance(timedelta(seconds=settings.webhook_disable_after_seconds + 1))

    swept = await _four_workers_run(database_url, settings, "disable_failing_webhook_endpoints")

    assert sum(swept) == 500
    announced = (
        await session.scalars(select(Event.aggregate_id).where(Event.type == "webhook_endpoint.disabled"))
    ).all()
    assert sorted(announced) == sorted(failing)
    active = await session.scalar(select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.is_active))
    assert active == 0


async def test_workers_side_by_side_expire_each_session_once(
    database_url: str, settings: Settings, session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    """500 sessions pass their expiry; four workers run their jobs at once: 500 ``checkout_session.expired``
    events, one per session, not more."""
    spec = checkout.NewCheckoutSession(
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[checkout.LineItemSpec(shop.tshirt)],
        expires_in_hours=1,
    )
    sessions = [(await checkout.create_session(session, shop.account_id, spec)).id for _ in range(500)]
    await session.commit()
    frozen_clock.advance(timedelta(hours=1))

    swept = await _four_workers_run(database_url, settings, "expire_checkout_sessions")

    assert sum(swept) == 500
    announced = (
        await session.scalars(select(Event.aggregate_id).where(Event.type == "checkout_session.expired"))
    ).all()
    assert sorted(announced) == sorted(sessions)


async def _four_workers_run(database_url: str, settings: Settings, job: str) -> list[int]:
    """Four workers, each with its own engine, run their jobs at once until ``job`` finds nothing more to do;
    what each of them did."""
    databases = [support.connect_url(database_url) for _ in range(4)]

    async def sweep(worker: Worker) -> int:
        total = 0
        while done := (await worker.run_jobs())[job]:
            total += done
        return total

    try:
        return list(await asyncio.gather(*(sweep(Worker(db, settings)) for db in databases)))
    finally:
        for db in databases:
            await db.dispose()


def _worker_process(settings: Settings, database_url: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "checkstand", "worker"],
        env=support.server_env(settings.data_dir, database_url, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def test_a_killed_workers_delivery_is_retried_after_its_lease(
    database_url: str,
    database: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    merchant: tuple[str, str],
    session: AsyncSession,
    receiver: Receiver,
    frozen_clock: FrozenClock,
) -> None:
    account_id, key = merchant
    endpoint = await create_endpoint(client, account_id, key, receiver.url)
    receiver.trust(endpoint["signing_secret"])
    event = await parcel_event(session, account_id, Parcel())
    await session.commit()
    receiver.hang()

    process = _worker_process(
        settings, database_url, CHECKSTAND_WEBHOOK_LEASE_SECONDS="5", CHECKSTAND_WEBHOOK_TIMEOUT_SECONDS="60"
    )
    try:
        receiver.wait_until(lambda r: len(r.arrived) == 2)  # the endpoint's creation and the parcel, in flight
    finally:
        process.kill()
        process.communicate(timeout=10)
    receiver.wait_until(lambda r: r.holding == 0)  # it saw the connections drop: nothing was processed
    receiver.answer(200)

    worker = Worker(database, quick(settings))
    assert (await worker.run_once())["deliver_webhooks"] == 0  # still leased to the dead worker
    leases = (await session.scalars(select(WebhookDelivery.locked_until))).all()
    await session.commit()
    assert all(lease is not None for lease in leases)
    frozen_clock.advance(max(lease for lease in leases if lease is not None) - frozen_clock.now())
    assert (await worker.run_once())["deliver_webhooks"] == 2

    assert len(receiver.arrived) == 4  # each twice: to the dead worker, then after its lease
    assert set(receiver.processed) == set(receiver.arrived) >= {event.id}
    assert receiver.after_ack == []
    deliveries = (await session.scalars(select(WebhookDelivery))).all()
    assert [(d.status, d.attempt_count) for d in deliveries] == [("succeeded", 1), ("succeeded", 1)]


async def test_sigterm_lets_the_worker_finish_the_delivery_in_hand(
    database_url: str,
    settings: Settings,
    client: httpx.AsyncClient,
    merchant: tuple[str, str],
    session: AsyncSession,
    receiver: Receiver,
) -> None:
    account_id, key = merchant
    endpoint = await create_endpoint(client, account_id, key, receiver.url)
    receiver.trust(endpoint["signing_secret"])
    receiver.hang()

    process = _worker_process(settings, database_url, CHECKSTAND_WEBHOOK_TIMEOUT_SECONDS="60")
    assert process.stdout is not None
    try:
        receiver.wait_until(lambda r: len(r.arrived) == 1)
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while "before stopping" not in process.stdout.readline():
            assert time.monotonic() < deadline
        receiver.answer(200)
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()
    output = process.stdout.read()

    assert "worker stopped" in output
    (delivery,) = (await session.scalars(select(WebhookDelivery))).all()
    assert (delivery.status, delivery.attempt_count, delivery.locked_by) == ("succeeded", 1, None)
    assert list(receiver.processed) == receiver.arrived
