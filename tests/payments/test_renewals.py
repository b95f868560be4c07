"""The billing engine on both backends: renewals on a test clock across month ends and a leap year, a trial that
converts, dunning that retries on schedule and then cancels, cancel at period end, racing workers and a manual
renew billing each period once, and a charge whose process died settled by recovery."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.clock import FrozenClock
from checkstand.core.errors import Conflict
from checkstand.db import Database
from checkstand.events.models import Event
from checkstand.invoices.models import PAID, SUBSCRIPTION_CYCLE, UNCOLLECTIBLE, Invoice
from checkstand.payments import off_session, renewals
from checkstand.payments.adapters import Gateway, adapter_for, load_processor
from checkstand.payments.models import CHARGE_PENDING, Payment, PaymentCharge
from checkstand.subscriptions import service as subscriptions
from checkstand.test_clocks import service as test_clocks
from checkstand.test_clocks.models import READY, TestClock
from tests.invoices.factory import SAVES_THEN_DECLINES, billing, fresh, simulator_charges
from tests.payments.flow import gateway
from tests.support import connect_url

START = datetime(2028, 1, 31, 10, 0, tzinfo=UTC)


async def advance(gateway_: Gateway, session: AsyncSession, account_id: str, clock_id: str, to: datetime) -> None:
    """Advance the clock and run the worker's clock job until it says the clock is ready."""
    await test_clocks.advance_test_clock(session, account_id, clock_id, to)
    await session.commit()
    for _ in range(50):
        await renewals.advance_test_clocks(gateway_)
        clock = await session.get(TestClock, clock_id, populate_existing=True)
        await session.commit()
        assert clock is not None
        if clock.status == READY:
            return
    raise AssertionError("the clock never became ready")


async def cycle_invoices(session: AsyncSession, subscription_id: str) -> list[Invoice]:
    found = await session.scalars(
        select(Invoice)
        .where(Invoice.subscription_id == subscription_id, Invoice.billing_reason == SUBSCRIPTION_CYCLE)
        .order_by(Invoice.period_start)
        .execution_options(populate_existing=True)
    )
    return list(found)


async def event_types(session: AsyncSession, aggregate_id: str) -> list[str]:
    found = await session.scalars(select(Event.type).where(Event.aggregate_id == aggregate_id).order_by(Event.seq))
    return list(found)


async def test_a_year_of_monthly_renewals_on_a_test_clock(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await billing(database, session, account_id, frozen_time=START)
    assert setup.clock_id is not None
    before = await simulator_charges(session, account_id)
    subscription = await fresh(session, setup.subscription_id)
    assert (subscription.current_period_start, subscription.current_period_end) == (
        START,
        START.replace(month=2, day=29),
    )

    await advance(gateway(database), session, account_id, setup.clock_id, START.replace(year=2029))

    invoices = await cycle_invoices(session, setup.subscription_id)
    ends = [invoice.period_end for invoice in invoices]
    assert [(end.month, end.day) for end in ends if end is not None] == [
        (3, 31),
        (4, 30),
        (5, 31),
        (6, 30),
        (7, 31),
        (8, 31),
        (9, 30),
        (10, 31),
        (11, 30),
        (12, 31),
        (1, 31),
        (2, 28),
    ]
    assert [invoice.status for invoice in invoices] == [PAID] * 12
    # Each invoice is issued when its period began, on the clock: 29 Feb 2028, 31 Mar 2028, ... 31 Jan 2029.
    assert invoices[0].issued_at == datetime(2028, 2, 29, 10, 0, tzinfo=UTC)
    assert invoices[-1].issued_at == datetime(2029, 1, 31, 10, 0, tzinfo=UTC)
    assert [invoice.number for invoice in invoices] == list(range(1, 13))
    assert await simulator_charges(session, account_id) - before == 12
    subscription = await fresh(session, setup.subscription_id)
    assert subscription.status == "active"
    assert subscription.current_period_end == datetime(2029, 2, 28, 10, 0, tzinfo=UTC)
    assert (await event_types(session, setup.subscription_id)).count("subscription.renewed") == 12


async def test_a_trial_converts_at_its_end_with_a_notice_before(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await billing(database, session, account_id, frozen_time=START, trial_days=14)
    assert setup.clock_id is not None
    trial_end = START + timedelta(days=14)
    before = await simulator_charges(session, account_id)

    await advance(gateway(database), session, account_id, setup.clock_id, trial_end - timedelta(days=4))
    assert "subscription.trial_will_end" not in await event_types(session, setup.subscription_id)
    await advance(gateway(database), session, account_id, setup.clock_id, trial_end - timedelta(days=1))
    subscription = await fresh(session, setup.subscription_id)
    assert subscription.status == "trialing"
    assert subscription.trial_ending_notified_at == trial_end - timedelta(days=3)
    assert await simulator_charges(session, account_id) == before

    await advance(gateway(database), session, account_id, setup.clock_id, trial_end)
    subscription = await fresh(session, setup.subscription_id)
    assert subscription.status == "active"
    assert subscription.current_period_start == trial_end
    [invoice] = await cycle_invoices(session, setup.subscription_id)
    assert (invoice.status, invoice.total_atom, invoice.period_start) == (PAID, 900, trial_end)
    assert await simulator_charges(session, account_id) == before + 1
    types = await event_types(session, setup.subscription_id)
    assert types.count("subscription.trial_will_end") == 1
    assert types.index("subscription.trial_will_end") < types.index("subscription.renewed")


async def test_a_declining_renewal_is_retried_on_schedule_then_canceled(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await billing(database, session, account_id, frozen_time=START, number=SAVES_THEN_DECLINES)
    assert setup.clock_id is not None
    due = START.replace(month=2, day=29)
    before = await simulator_charges(session, account_id)
    pay = gateway(database)

    await advance(pay, session, account_id, setup.clock_id, due + timedelta(days=2))
    [invoice] = await cycle_invoices(session, setup.subscription_id)
    assert (invoice.status, invoice.attempt_count, invoice.next_attempt_at) == ("past_due", 1, due + timedelta(days=3))
    assert (await fresh(session, setup.subscription_id)).status == "past_due"

    await advance(pay, session, account_id, setup.clock_id, due + timedelta(days=3))
    [invoice] = await cycle_invoices(session, setup.subscription_id)
    assert (invoice.attempt_count, invoice.next_attempt_at) == (2, due + timedelta(days=5))

    await advance(pay, session, account_id, setup.clock_id, due + timedelta(days=7))
    [invoice] = await cycle_invoices(session, setup.subscription_id)
    assert (invoice.status, invoice.attempt_count, invoice.next_attempt_at) == (UNCOLLECTIBLE, 4, None)
    subscription = await fresh(session, setup.subscription_id)
    assert (subscription.status, subscription.ended_at) == ("canceled", due + timedelta(days=7))
    assert await simulator_charges(session, account_id) - before == 4
    assert (await event_types(session, invoice.id)).count("invoice.payment_failed") == 4
    # Canceled: nothing more is billed however far the clock goes.
    await advance(pay, session, account_id, setup.clock_id, due + timedelta(days=90))
    assert len(await cycle_invoices(session, setup.subscription_id)) == 1


async def test_cancel_at_period_end_cancels_instead_of_renewing(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await billing(database, session, account_id, frozen_time=START)
    assert setup.clock_id is not None
    await subscriptions.set_cancel_at_period_end(session, account_id, setup.subscription_id, True)
    await session.commit()
    before = await simulator_charges(session, account_id)

    await advance(gateway(database), session, account_id, setup.clock_id, START + timedelta(days=60))

    subscription = await fresh(session, setup.subscription_id)
    assert (subscription.status, subscription.ended_at) == ("canceled", START.replace(month=2, day=29))
    assert await cycle_invoices(session, setup.subscription_id) == []
    assert await simulator_charges(session, account_id) == before


async def test_four_workers_and_a_manual_renew_bill_each_period_once(
    database: Database, database_url: str, session: AsyncSession, merchant: tuple[str, str], frozen_clock: FrozenClock
) -> None:
    account_id, _ = merchant
    setup = await billing(database, session, account_id)
    before = await simulator_charges(session, account_id)
    await session.commit()  # the test's own session holds no write lock while the workers run
    frozen_clock.advance(timedelta(days=32))
    # Each worker its own engine, as separate processes would have.
    engines = [connect_url(database_url) for _ in range(5)]
    try:
        outcomes = await asyncio.gather(
            *(renewals.renew_due(gateway(engine)) for engine in engines[:4]),
            renewals.renew_subscription(gateway(engines[4]), account_id, setup.subscription_id),
            return_exceptions=True,
        )
    finally:
        for engine in engines:
            await engine.dispose()
    assert all(not isinstance(o, BaseException) or isinstance(o, Conflict) for o in outcomes), outcomes

    invoices = await cycle_invoices(session, setup.subscription_id)
    periods = [invoice.period_start for invoice in invoices]
    assert len(periods) == len(set(periods)) >= 1
    assert all(invoice.status == PAID for invoice in invoices)
    assert await simulator_charges(session, account_id) - before == len(invoices)
    charges = await session.scalars(
        select(PaymentCharge).join(Payment).where(Payment.subscription_id == setup.subscription_id)
    )
    assert len(list(charges)) == len(invoices)


async def test_a_charge_left_pending_by_a_dead_process_is_settled_once_by_recovery(
    database: Database, session: AsyncSession, merchant: tuple[str, str], frozen_clock: FrozenClock
) -> None:
    account_id, _ = merchant
    setup = await billing(database, session, account_id)
    before = await simulator_charges(session, account_id)
    await session.commit()  # the test's own session holds no write lock while the workers run
    frozen_clock.advance(timedelta(days=32))
    pay = gateway(database)
    # What a worker killed right after the processor call leaves: the charge committed pending, the processor
    # charged with its key, nothing settled.
    async with database.writing() as work:
        subscription = await renewals.lifecycle.lock_subscription(work, account_id, setup.subscription_id)
        opened = await renewals._open_renewal(work, pay, subscription, now=frozen_clock.now(), manual=False)
        await work.commit()
    assert opened.staged is not None
    async with adapter_for(pay, await load_processor(pay, opened.staged.processor_id)) as adapter:
        await adapter.charge(opened.staged.request)

    assert await off_session.recover_charges(pay) == 0  # its lease still runs: the owner may be alive
    frozen_clock.advance(pay.policy.attempt_lease + timedelta(seconds=1))
    assert await off_session.recover_charges(pay) == 1

    [invoice] = await cycle_invoices(session, setup.subscription_id)
    assert invoice.status == PAID
    assert await simulator_charges(session, account_id) - before == 1
    pending = await session.scalar(select(PaymentCharge.id).where(PaymentCharge.status == CHARGE_PENDING))
    assert pending is None
    subscription = await fresh(session, setup.subscription_id)
    assert subscription.current_period_start == invoice.period_start
    assert await renewals.renew_due(pay) == 0
