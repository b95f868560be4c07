"""``POST /webhooks/stripe/{processor_id}`` in process, on both backends: Stripe's signature, each event stored once
(also under concurrent deliveries), PaymentIntent events settled from localstripe, and nothing stored otherwise."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import stripe
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.api import stripe_webhooks
from checkstand.app import create_app
from checkstand.core import clock
from checkstand.core.clock import FrozenClock
from checkstand.core.ids import new_id
from checkstand.db import Database
from checkstand.processors import connections
from checkstand.processors.base import ChargeRequest, PaymentMethod
from checkstand.processors.models import Processor, StripeEvent
from checkstand.processors.stripe import METADATA_KEY, StripeProcessor
from checkstand.settings import Settings
from tests.localstripe import SECRET_KEY, SUCCEEDING_METHOD, LocalStripe

WEBHOOK_SECRET = "whsec_localTestSecret0123456789abcdef"
WEBHOOK_PATH = "/webhooks/stripe/{processor_id}"


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    application = create_app(settings, database=database)
    if not any(getattr(route, "path", None) == WEBHOOK_PATH for route in application.routes):
        application.include_router(stripe_webhooks.router)
    return application


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://checkstand.test") as client:
        yield client


async def connect_stripe(session: AsyncSession, app: FastAPI, account_id: str, api_base: str) -> Processor:
    processor = await connections.create_processor(
        session,
        account_id,
        app.state.secret_box,
        name="Stripe",
        type="stripe",
        currencies=["usd"],
        secret_key=SECRET_KEY,
        webhook_secret=WEBHOOK_SECRET,
        api_base=api_base,
        allow_private_urls=True,
    )
    await session.commit()
    return processor


@pytest.fixture
async def processor(
    session: AsyncSession, app: FastAPI, merchant: tuple[str, str], localstripe: LocalStripe
) -> Processor:
    return await connect_stripe(session, app, merchant[0], localstripe.api_base)


def event() -> dict[str, Any]:
    """A Stripe event with nothing to settle."""
    return {
        "id": new_id("evt"),
        "object": "event",
        "type": "customer.created",
        "created": int(clock.now().timestamp()),
        "data": {"object": {"id": new_id("cus"), "object": "customer"}},
    }


def signed(body: bytes, *, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    """Stripe's header, signed now: ``t=<unix time>,v1=<HMAC-SHA256 of "<t>.<body>" under the endpoint's secret>``."""
    timestamp = int(clock.now().timestamp())
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=timestamp)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


async def deliver(
    http: httpx.AsyncClient, processor_id: str, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await http.post(f"/webhooks/stripe/{processor_id}", content=body, headers=headers or signed(body))


async def stored_events(database: Database, processor_id: str) -> list[StripeEvent]:
    """Read in a session of its own: the test's writing session would hold SQLite's write lock until it ends."""
    async with database.reading() as reader:
        query = select(StripeEvent).where(StripeEvent.processor_id == processor_id).order_by(StripeEvent.received_at)
        return list((await reader.scalars(query)).all())


async def test_a_signed_event_is_stored_once(
    http: httpx.AsyncClient, processor: Processor, frozen_clock: FrozenClock, database: Database
) -> None:
    sent = event()
    body = json.dumps(sent).encode()
    first = await deliver(http, processor.id, body)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "event_id": sent["id"], "duplicate": False}
    [row] = await stored_events(database, processor.id)
    assert (row.id, row.type, row.account_id, row.payload) == (sent["id"], sent["type"], processor.account_id, sent)
    assert row.received_at == frozen_clock.now()
    # Nothing to settle about a customer: processed as it arrives.
    assert row.processed_at == frozen_clock.now()

    # Stripe delivers again (a retry, or twice): answered as received, and nothing changes.
    frozen_clock.advance(timedelta(minutes=1))
    altered = json.dumps({**sent, "type": "customer.deleted"}).encode()
    again = await deliver(http, processor.id, altered)
    assert again.status_code == 200
    assert again.json() == {"received": True, "event_id": sent["id"], "duplicate": True}
    [unchanged] = await stored_events(database, processor.id)
    assert (unchanged.type, unchanged.payload, unchanged.received_at) == (sent["type"], sent, row.received_at)


async def test_concurrent_deliveries_of_one_event_store_it_once(
    http: httpx.AsyncClient, processor: Processor, database: Database
) -> None:
    body = json.dumps(event()).encode()
    answers = await asyncio.gather(*(deliver(http, processor.id, body) for _ in range(6)))
    assert [answer.status_code for answer in answers] == [200] * 6
    assert sorted(answer.json()["duplicate"] for answer in answers) == [False] + [True] * 5
    assert len(await stored_events(database, processor.id)) == 1


async def test_a_payment_intent_event_is_settled_from_stripe_and_stored_without_its_client_secret(
    http: httpx.AsyncClient, processor: Processor, localstripe: LocalStripe, database: Database
) -> None:
    key = new_id("catt")
    async with StripeProcessor(SECRET_KEY, localstripe.api_base, allow_private_urls=True) as adapter:
        charged = await adapter.charge(
            ChargeRequest(key, 1500, "usd", PaymentMethod(processor_reference=SUCCEEDING_METHOD))
        )
    assert charged.processor_reference is not None
    [sent] = localstripe.events_about(charged.processor_reference)
    client_secret = sent["data"]["object"]["client_secret"]
    assert client_secret
    assert sent["data"]["object"]["metadata"] == {METADATA_KEY: key}

    response = await deliver(http, processor.id, json.dumps(sent).encode())
    assert response.status_code == 200, response.text
    [row] = await stored_events(database, processor.id)
    assert row.type == "payment_intent.succeeded"
    assert row.payload["data"]["object"]["id"] == charged.processor_reference
    assert client_secret not in json.dumps(row.payload)
    assert row.payload["data"]["object"]["client_secret"] == "[redacted]"
    # The payment attempts module applied the settlement in the receiving transaction and marked the event processed.
    assert row.processed_at is not None


async def test_when_stripe_cant_settle_the_event_nothing_is_stored_and_a_redelivery_works(
    http: httpx.AsyncClient,
    session: AsyncSession,
    app: FastAPI,
    merchant: tuple[str, str],
    localstripe: LocalStripe,
    database: Database,
) -> None:
    async with StripeProcessor(SECRET_KEY, localstripe.api_base, allow_private_urls=True) as adapter:
        charged = await adapter.charge(
            ChargeRequest(new_id("catt"), 900, "usd", PaymentMethod(processor_reference=SUCCEEDING_METHOD))
        )
    assert charged.processor_reference is not None
    [sent] = localstripe.events_about(charged.processor_reference)
    body = json.dumps(sent).encode()
    # A connection whose API base answers, but not as Stripe: the settle hook can't read the PaymentIntent.
    broken = await connect_stripe(session, app, merchant[0], f"{localstripe.api_base}/not-stripe")
    response = await deliver(http, broken.id, body)
    assert response.status_code == 503
    assert response.json()["code"] == "processor_unavailable"
    assert await stored_events(database, broken.id) == []

    # Stripe delivers again once its API answers: the event is stored, as if the first delivery never happened.
    await session.execute(update(Processor).where(Processor.id == broken.id).values(api_base=localstripe.api_base))
    await session.commit()
    redelivered = await deliver(http, broken.id, body)
    assert redelivered.status_code == 200, redelivered.text
    assert redelivered.json()["duplicate"] is False
    assert [row.id for row in await stored_events(database, broken.id)] == [sent["id"]]


async def test_a_bad_signature_is_400_and_stores_nothing(
    http: httpx.AsyncClient, processor: Processor, database: Database
) -> None:
    body = json.dumps(event()).encode()
    good = signed(body)["Stripe-Signature"]
    bad_headers = {
        "missing": {},
        "other secret": signed(body, secret="whsec_someoneElsesSecret0000"),
        "other body": signed(body + b" "),
        "garbled": {"Stripe-Signature": "t=abc,v1=zzz"},
        "no v1": {"Stripe-Signature": good.split(",")[0]},
        "v0 only": {"Stripe-Signature": good.replace("v1=", "v0=")},
    }
    for case, headers in bad_headers.items():
        response = await deliver(http, processor.id, body, {"Content-Type": "application/json", **headers})
        assert response.status_code == 400, case
        assert response.json()["code"] == "invalid_signature", case
        assert WEBHOOK_SECRET not in response.text
    assert await stored_events(database, processor.id) == []


async def test_a_signature_older_than_five_minutes_is_refused_by_checkstands_clock(
    http: httpx.AsyncClient, processor: Processor, frozen_clock: FrozenClock, database: Database
) -> None:
    body = json.dumps(event()).encode()
    headers = signed(body)
    frozen_clock.advance(timedelta(seconds=301))
    late = await deliver(http, processor.id, body, headers)
    assert late.status_code == 400
    assert "too old" in late.json()["detail"]
    assert await stored_events(database, processor.id) == []

    fresh_body = json.dumps(event()).encode()
    fresh = signed(fresh_body)
    frozen_clock.advance(timedelta(seconds=299))
    assert (await deliver(http, processor.id, fresh_body, fresh)).status_code == 200


async def test_a_signed_body_that_is_not_a_stripe_event_is_400(
    http: httpx.AsyncClient, processor: Processor, database: Database
) -> None:
    bodies = {
        "not json": b"not json",
        "not utf-8": b"\xff\xfe not utf-8",
        "not an object": b"[]",
        "id not a string": json.dumps({"id": 42, "type": "customer.created"}).encode(),
        "no type": json.dumps({"id": "evt_1"}).encode(),
        "id too long": json.dumps({"id": "evt_" + "x" * 300, "type": "customer.created"}).encode(),
        "nul": json.dumps({"id": "evt_1", "type": "customer.created", "data": {"object": {"name": "a\x00b"}}}).encode(),
    }
    for case, body in bodies.items():
        # Signed as Stripe would sign it; a body that isn't UTF-8 can't be signed as text at all.
        headers = signed(body) if body.isascii() else signed(b"{}")
        response = await deliver(http, processor.id, body, headers)
        assert response.status_code == 400, case
    assert await stored_events(database, processor.id) == []


async def test_only_a_connected_stripe_processor_has_a_webhook(
    http: httpx.AsyncClient, processor: Processor, session: AsyncSession, app: FastAPI, merchant: tuple[str, str]
) -> None:
    body = json.dumps(event()).encode()
    simulator = await connections.create_processor(
        session, merchant[0], app.state.secret_box, name="Sim", type="simulator"
    )
    await session.commit()
    for unknown in ("proc_doesNotExist", simulator.id, "x" * 500):
        response = await deliver(http, unknown, body)
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "processor_not_found"

    await connections.delete_processor(session, processor.account_id, processor.id)
    await session.commit()
    assert (await deliver(http, processor.id, body)).status_code == 404
    assert await session.scalar(select(func.count()).select_from(StripeEvent)) == 0


async def test_a_deactivated_connection_still_receives(
    http: httpx.AsyncClient, processor: Processor, session: AsyncSession, app: FastAPI, database: Database
) -> None:
    """Payments in flight on a connection switched off must still settle."""
    await connections.update_processor(
        session, processor.account_id, processor.id, {"is_active": False}, app.state.secret_box
    )
    await session.commit()
    assert (await deliver(http, processor.id, json.dumps(event()).encode())).status_code == 200
    assert len(await stored_events(database, processor.id)) == 1


async def test_no_secret_reaches_the_logs(
    http: httpx.AsyncClient, processor: Processor, localstripe: LocalStripe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with StripeProcessor(SECRET_KEY, localstripe.api_base, allow_private_urls=True) as adapter:
        charged = await adapter.charge(
            ChargeRequest(new_id("catt"), 700, "usd", PaymentMethod(processor_reference=SUCCEEDING_METHOD))
        )
    assert charged.processor_reference is not None
    [sent] = localstripe.events_about(charged.processor_reference)
    body = json.dumps(sent).encode()
    assert (await deliver(http, processor.id, body)).status_code == 200
    assert (
        await deliver(http, processor.id, body, signed(body, secret="whsec_wrongSecret00000000"))
    ).status_code == 400
    assert sent["id"] in caplog.text  # the receipt is logged, by id
    for secret in (SECRET_KEY, WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_")):
        assert secret not in caplog.text
