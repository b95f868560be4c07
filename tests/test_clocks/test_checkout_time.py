"""A checkout of a customer on a test clock lives at the clock's time: its session expires when the clock passes its
expiry (during an advance, or by the worker's expiry job), never by the real time; what the checkout records
(capture, invoice, subscription, completion) and the trial's end the hosted page announces are dated by the clock.

Clocks here stand years away from the real time, so a rule that read the real time would show.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from payment_kit import PaymentKit
from payment_kit.types import CheckoutSessionLineItemCreate
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout import lifecycle
from checkstand.checkout import service as checkout_service
from checkstand.core.clock import FrozenClock
from checkstand.customers import service as customers
from checkstand.db import Database
from checkstand.events.models import Event
from checkstand.payments import renewals
from checkstand.test_clocks import service as test_clocks
from checkstand.test_clocks.models import READY, TestClock
from tests.compat import billing
from tests.conftest import bearer
from tests.payments import flow
from tests.shop import Shop
from tests.support import Server, connect_url

# Long gone in real time: a session expiring then would expire at once if the real time were read.
PAST = datetime(2021, 3, 1, 9, 0, tzinfo=UTC)


def _clock_api(server: Server, account_id: str, secret: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{server.base_url}/api/{account_id}/test-clocks{path}", json=body, headers=bearer(secret), timeout=60
    )
    assert response.is_success, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _advance(server: Server, account_id: str, secret: str, clock_id: str, to: datetime) -> None:
    """The advance answers once the server's worker has caught the clock's customers up."""
    advanced = _clock_api(server, account_id, secret, f"/{clock_id}/advance", {"frozen_time": to.isoformat()})
    assert advanced["status"] == READY


def _price(server: Server, account_id: str, *, trial_days: int = 0) -> str:
    """A 9.00 USD monthly price (made through the service: the SDK can't give a price a trial)."""

    async def make() -> str:
        database = connect_url(server.database_url)
        try:
            async with database.writing() as session:
                product = await catalog.create_product(session, account_id, name="Pro")
                price = await catalog.create_price(
                    session,
                    account_id,
                    product_id=product.id,
                    currency="usd",
                    unit_amount_atom=900,
                    recurring_interval="month",
                    trial_days=trial_days,
                )
                await session.commit()
                return price.id
        finally:
            await database.dispose()

    return asyncio.run(make())


def _on_a_clock(server: Server, at: datetime) -> tuple[str, str, PaymentKit, str, str]:
    """A fresh account with a clock at ``at`` and a customer on it: ``(account_id, secret, sdk, clock_id,
    customer_id)``."""
    account_id, secret = server.new_account()
    sdk = PaymentKit(base_url=server.base_url, token=secret, timeout=60)
    clock_id = _clock_api(server, account_id, secret, "/", {"frozen_time": at.isoformat()})["id"]
    customer = sdk.customers.create_customer(
        account_id,
        email="ada@example.com",
        request_options={"additional_body_parameters": {"test_clock_id": clock_id}},
    )
    return account_id, secret, sdk, clock_id, customer.id


def _expired_events(sdk: PaymentKit, account_id: str, checkout_id: str) -> int:
    page = sdk.events.list_events(account_id, aggregate_id=checkout_id, limit=100)
    return sum(1 for event in page.items if event.type == "checkout_session.expired")


def test_a_session_on_a_clock_expires_when_the_clock_passes_its_expiry_not_by_the_real_time(server: Server) -> None:
    account_id, secret, sdk, clock_id, customer_id = _on_a_clock(server, PAST)
    created = sdk.checkout_sessions.create_checkout_session(
        account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[CheckoutSessionLineItemCreate(price_id=_price(server, account_id))],
        customer_id=customer_id,
        expires_in_hours=2,
    )
    assert created.model_extra is not None
    # The expiry counts from the clock's time, not the real one.
    assert datetime.fromisoformat(created.model_extra["expires_at"]) == PAST + timedelta(hours=2)
    assert created.state == "open"

    # Two advances short of the expiry: each answers after a worker round, so the second proves that a whole round
    # (the expiry job included) ran after the session was made, years after its expiry in real time.
    _advance(server, account_id, secret, clock_id, PAST + timedelta(hours=1))
    _advance(server, account_id, secret, clock_id, PAST + timedelta(hours=1, minutes=59))
    still = sdk.checkout_sessions.get_checkout_session(account_id, created.id)
    assert (still.state, still.is_expired) == ("open", False)
    assert _expired_events(sdk, account_id, created.id) == 0

    _advance(server, account_id, secret, clock_id, PAST + timedelta(hours=3))
    expired = sdk.checkout_sessions.get_checkout_session(account_id, created.id)
    assert (expired.state, expired.is_expired) == ("expired", True)
    assert expired.model_extra is not None
    # Expired as of its due moment on the clock, during the advance.
    assert datetime.fromisoformat(expired.model_extra["expired_at"]) == PAST + timedelta(hours=2)
    assert _expired_events(sdk, account_id, created.id) == 1


def test_a_checkout_on_a_clock_is_captured_invoiced_and_completed_at_the_clocks_time(server: Server) -> None:
    merchant = billing.merchant(server)
    merchant.simulator()
    subscribed = merchant.subscribe(billing.card(flow.GOOD_CARD))

    [attempt] = merchant.attempts()
    assert attempt.captured_at == billing.START
    [invoice] = merchant.invoices(subscribed.subscription_id)
    assert invoice.issued_at == billing.START
    assert invoice.model_extra is not None
    assert datetime.fromisoformat(invoice.model_extra["paid_at"]) == billing.START
    subscription = merchant.client.subscriptions.get_subscription(merchant.account_id, subscribed.subscription_id)
    assert subscription.current_period_start == billing.START
    [paid] = merchant.client.checkout_sessions.list_checkout_sessions(merchant.account_id).items
    assert paid.model_extra is not None
    assert datetime.fromisoformat(paid.model_extra["completed_at"]) == billing.START


def test_the_page_dates_a_trials_end_by_the_clock_and_the_subscription_agrees(server: Server) -> None:
    account_id, secret, sdk, _, customer_id = _on_a_clock(server, billing.START)
    billing.Merchant(server, sdk, account_id, secret).simulator()
    created = sdk.checkout_sessions.create_checkout_session(
        account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[CheckoutSessionLineItemCreate(price_id=_price(server, account_id, trial_days=14))],
        customer_id=customer_id,
    )

    shown = httpx.get(f"{server.base_url}/c/{created.secure_token}", timeout=60)
    assert shown.status_code == 200, shown.text
    # The clock's January 31, 2028 plus 14 days.
    assert 'id="trial-terms">14-day free trial, then $9.00 per month starting February 14, 2028<' in shown.text

    confirmed = httpx.post(
        f"{server.base_url}/api/public/checkout/{created.secure_token}/confirm",
        json={"payment_method": billing.card(flow.GOOD_CARD)},
        timeout=60,
    )
    assert confirmed.status_code == 200, confirmed.text
    [subscription] = sdk.subscriptions.list_subscriptions_by_customer(account_id, customer_id)
    assert subscription.state == "trialing"
    assert subscription.trial_end == billing.START + timedelta(days=14)


async def test_the_expiry_job_leaves_a_standing_clocks_sessions_to_the_clock(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock
) -> None:
    """The real time passes both sessions' expiry while the clock stands still: the worker's job expires only the
    session of the customer on no clock; the clock's session is open to every reader until the clock passes it."""
    account_id = shop.account_id
    made = await test_clocks.create_test_clock(session, account_id, frozen_time=frozen_clock.now())
    on_clock = await customers.create_customer(session, account_id, email="a@example.test", test_clock_id=made.id)
    await session.commit()
    clocked = await flow.open_session(session, account_id, [shop.tshirt], customer_id=on_clock.id)
    anonymous = await flow.open_session(session, account_id, [shop.tshirt])

    frozen_clock.advance(timedelta(hours=checkout_service.DEFAULT_EXPIRY_HOURS, minutes=1))
    async with database.writing() as job_session:
        assert await lifecycle.expire_open_sessions(job_session) == 1
        await job_session.commit()

    async with database.reading() as fresh:
        assert (await checkout_service.get_session(fresh, account_id, anonymous.id)).status == "expired"
        still = await checkout_service.get_session(fresh, account_id, clocked.id)
        assert (still.status, checkout_service.state(still)) == ("open", "open")

    await test_clocks.advance_test_clock(session, account_id, made.id, clocked.expires_at + timedelta(seconds=1))
    await session.commit()
    # While the clock advances, the regular job leaves its sessions to the clock's own job.
    async with database.writing() as job_session:
        assert await lifecycle.expire_open_sessions(job_session) == 0
        await job_session.commit()
    await renewals.advance_test_clocks(flow.gateway(database))

    async with database.reading() as fresh:
        expired = await checkout_service.get_session(fresh, account_id, clocked.id)
        assert (expired.status, expired.expired_at) == ("expired", clocked.expires_at)
        ready = await fresh.get(TestClock, made.id)
        assert ready is not None
        assert ready.status == READY


async def test_racing_expiries_of_a_clocks_session_expire_it_once(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    account_id = shop.account_id
    made = await test_clocks.create_test_clock(session, account_id, frozen_time=PAST)
    on_clock = await customers.create_customer(session, account_id, email="a@example.test", test_clock_id=made.id)
    await session.commit()
    clocked = await flow.open_session(session, account_id, [shop.tshirt], customer_id=on_clock.id)
    await test_clocks.advance_test_clock(session, account_id, made.id, PAST + timedelta(days=2))
    await session.commit()

    due = clocked.expires_at

    async def expire_at_due() -> bool:
        """What each clock job does with the due session it found (all of them found it before any expired it)."""
        async with database.writing() as job_session:
            expired = await lifecycle.expire_due_session(job_session, account_id, clocked.id, due)
            await job_session.commit()
            return expired

    async def expiry_job() -> int:
        async with database.writing() as job_session:
            done = await lifecycle.expire_open_sessions(job_session)
            await job_session.commit()
            return done

    *racers, regular = await asyncio.gather(*(expire_at_due() for _ in range(4)), expiry_job())

    # One racer expired it; the others found it expired inside the lock. The regular job leaves an advancing clock's
    # sessions alone; the clock's own job then finds nothing left due and makes the clock ready.
    assert sorted(racers) == [False, False, False, True]
    assert regular == 0
    await renewals.advance_test_clocks(flow.gateway(database))
    async with database.reading() as fresh:
        expired = await checkout_service.get_session(fresh, account_id, clocked.id)
        assert (expired.status, expired.expired_at) == ("expired", due)
        events = await fresh.scalars(
            select(Event.type).where(Event.aggregate_id == clocked.id, Event.type == "checkout_session.expired")
        )
        assert len(events.all()) == 1
        ready = await fresh.get(TestClock, made.id)
        assert ready is not None
        assert ready.status == READY
