"""Metered prices billed by the billing engine on both backends: a period's usage billed in arrears on the renewal
invoice, beside the licensed plan billed in advance, once the grace window after the period's end has passed (late
usage within it still billed, after it refused); the worker's regular job waiting that window (for a customer on no
clock and on a clock at rest); a trial's usage never billed; the last period's usage billed on a final invoice when
the subscription ends at its period's end; and a manual renew that waits for the period's end."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.clock import FrozenClock
from checkstand.core.errors import Conflict, InvalidFields
from checkstand.db import Database
from checkstand.invoices.models import PAID
from checkstand.invoices.next_action import next_action
from checkstand.payments import renewals
from checkstand.settings import Settings
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.periods import add_interval
from checkstand.test_clocks import service as test_clocks
from checkstand.test_clocks.models import TestClock
from checkstand.usage import service as usage
from tests.invoices.factory import fresh, simulator_charges
from tests.payments.flow import gateway
from tests.payments.test_renewals import advance, cycle_invoices
from tests.usage.factory import END, METER, NEXT_END, START, Metered, metered_billing

GRACE = timedelta(hours=1)  # CHECKSTAND_USAGE_GRACE_SECONDS' default, which the tests' gateway carries
BASE = 1000
RATE = 5


async def report(
    session: AsyncSession, setup: Metered, value: int, at: datetime, identifier: str | None = None
) -> None:
    await usage.record_meter_event(
        session,
        setup.account_id,
        usage.MeterEventSpec(
            customer_id=setup.customer_id, metered_id=METER, value=value, timestamp=at, identifier=identifier
        ),
    )
    await session.commit()


async def test_usage_is_billed_in_arrears_once_the_grace_window_has_passed(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await metered_billing(database, session, account_id, base_amount_atom=BASE)
    assert setup.clock_id is not None
    held = await fresh(session, setup.subscription_id)
    assert [(item.price.usage_type, item.quantity) for item in held.items] == [("licensed", 1), ("metered", 0)]
    before = await simulator_charges(session, account_id)
    await advance(gateway(database), session, account_id, setup.clock_id, START + timedelta(days=10))
    await report(session, setup, 10, START + timedelta(days=1))
    await report(session, setup, 20, START + timedelta(days=9), identifier="batch-2")
    await report(session, setup, 20, START + timedelta(days=9), identifier="batch-2")  # a retry: the same report

    await advance(gateway(database), session, account_id, setup.clock_id, END + timedelta(minutes=30))
    assert await cycle_invoices(session, setup.subscription_id) == []  # the period ended, its usage may still come
    await report(session, setup, 1, END - timedelta(minutes=1))  # late, within the grace window
    await report(session, setup, 7, END + timedelta(minutes=10))  # the next period's

    await advance(gateway(database), session, account_id, setup.clock_id, END + GRACE)
    [invoice] = await cycle_invoices(session, setup.subscription_id)
    lines = sorted(invoice.lines, key=lambda line: line.position)
    assert [(line.quantity, line.amount_atom, line.period_start, line.period_end) for line in lines] == [
        (1, BASE, END, NEXT_END),  # the plan, in advance
        (31, 31 * RATE, START, END),  # the usage of the period just ended, in arrears
    ]
    assert lines[1].line_metadata == {"metered_id": METER, "usage_aggregation": "sum"}
    assert (invoice.status, invoice.total_atom, invoice.issued_at) == (PAID, BASE + 31 * RATE, END + GRACE)
    assert await simulator_charges(session, account_id) - before == 1

    with pytest.raises(InvalidFields) as refused:
        await report(session, setup, 1, END - timedelta(minutes=1))
    assert [problem.path for problem in refused.value.problems] == [("timestamp",)]
    await session.rollback()

    await advance(gateway(database), session, account_id, setup.clock_id, NEXT_END + GRACE)
    invoices = await cycle_invoices(session, setup.subscription_id)
    assert [line.quantity for line in invoices[-1].lines if line.line_metadata] == [7]
    assert invoices[-1].total_atom == BASE + 7 * RATE


async def test_the_worker_waits_the_grace_window_on_the_real_time(
    database: Database, session: AsyncSession, merchant: tuple[str, str], frozen_clock: FrozenClock
) -> None:
    account_id, _ = merchant
    setup = await metered_billing(database, session, account_id, frozen_time=None, base_amount_atom=BASE)
    subscription = await fresh(session, setup.subscription_id)
    await report(session, setup, 3, subscription.current_period_start)
    frozen_clock.advance(subscription.current_period_end - frozen_clock.now() + GRACE - timedelta(seconds=5))
    assert await renewals.renew_due(gateway(database)) == 0
    frozen_clock.advance(timedelta(seconds=5))
    assert await renewals.renew_due(gateway(database)) == 1
    [invoice] = await cycle_invoices(session, setup.subscription_id)
    assert (invoice.status, invoice.total_atom) == (PAID, BASE + 3 * RATE)


async def test_the_worker_waits_the_grace_window_on_a_clock_at_rest(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await metered_billing(database, session, account_id, base_amount_atom=BASE)
    assert setup.clock_id is not None

    async def rest_at(moment: datetime) -> None:
        """The clock moved and at rest, its customers not caught up: what the regular job handles."""
        clock = await test_clocks.advance_test_clock(session, account_id, setup.clock_id or "", moment)
        assert await test_clocks.mark_ready(session, clock)
        await session.commit()

    await rest_at(END + GRACE - timedelta(seconds=5))
    assert await renewals.renew_due(gateway(database)) == 0
    await rest_at(END + GRACE)
    assert await renewals.renew_due(gateway(database)) == 1
    assert [invoice.status for invoice in await cycle_invoices(session, setup.subscription_id)] == [PAID]
    assert (await session.get(TestClock, setup.clock_id)) is not None


async def test_a_trials_usage_is_not_billed(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await metered_billing(database, session, account_id, base_amount_atom=BASE, trial_days=7)
    assert setup.clock_id is not None
    trial_end = START + timedelta(days=7)
    await advance(gateway(database), session, account_id, setup.clock_id, START + timedelta(days=2))
    await report(session, setup, 50, START + timedelta(days=1))

    # The trial converts at its end, without waiting: it bills the first period in advance and no usage.
    await advance(gateway(database), session, account_id, setup.clock_id, trial_end)
    [conversion] = await cycle_invoices(session, setup.subscription_id)
    assert [(line.quantity, line.amount_atom) for line in conversion.lines] == [(1, BASE), (0, 0)]
    assert (conversion.status, conversion.issued_at) == (PAID, trial_end)
    await advance(gateway(database), session, account_id, setup.clock_id, trial_end + timedelta(days=2))
    await report(session, setup, 4, trial_end + timedelta(days=1))

    period_end = add_interval(trial_end, "month", 1)
    await advance(gateway(database), session, account_id, setup.clock_id, period_end + GRACE)
    renewal = (await cycle_invoices(session, setup.subscription_id))[-1]
    assert [(line.quantity, line.amount_atom) for line in renewal.lines] == [(1, BASE), (4, 4 * RATE)]


async def test_ending_at_the_periods_end_bills_its_usage_on_a_final_invoice(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await metered_billing(database, session, account_id)
    assert setup.clock_id is not None
    await advance(gateway(database), session, account_id, setup.clock_id, START + timedelta(days=1))
    await report(session, setup, 12, START + timedelta(hours=1))
    await subscriptions.set_cancel_at_period_end(session, account_id, setup.subscription_id, True)
    await session.commit()

    await advance(gateway(database), session, account_id, setup.clock_id, END + GRACE)
    subscription = await fresh(session, setup.subscription_id)
    assert (subscription.status, subscription.ended_at) == ("canceled", END)
    [final] = await cycle_invoices(session, setup.subscription_id)
    assert [(line.quantity, line.amount_atom, line.period_start, line.period_end) for line in final.lines] == [
        (12, 12 * RATE, START, END)
    ]
    assert (final.status, final.total_atom, final.period_start, final.period_end) == (PAID, 12 * RATE, END, END)


async def test_a_manual_renew_waits_for_the_periods_end(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await metered_billing(database, session, account_id, base_amount_atom=BASE)
    assert setup.clock_id is not None
    with pytest.raises(Conflict) as refused:
        await renewals.renew_subscription(gateway(database), account_id, setup.subscription_id)
    assert refused.value.code == renewals.USAGE_PERIOD_OPEN
    status, invoice, reason = await renewals.create_renewal_invoice(session, account_id, setup.subscription_id)
    assert (status, invoice, reason) == (renewals.SKIPPED, None, renewals.USAGE_PERIOD_OPEN)
    await session.rollback()

    # Once the period has ended (within the grace window) the merchant may bill it at once.
    clock = await test_clocks.advance_test_clock(session, account_id, setup.clock_id, END + timedelta(minutes=1))
    assert await test_clocks.mark_ready(session, clock)
    await session.commit()
    await report(session, setup, 2, END - timedelta(hours=1))
    invoice = await renewals.renew_subscription(gateway(database), account_id, setup.subscription_id)
    assert (invoice.status, invoice.total_atom) == (PAID, BASE + 2 * RATE)


async def test_a_metered_only_period_without_usage_is_settled_without_a_charge(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await metered_billing(database, session, account_id)
    assert setup.clock_id is not None
    before = await simulator_charges(session, account_id)
    await advance(gateway(database), session, account_id, setup.clock_id, END + GRACE)
    [invoice] = await cycle_invoices(session, setup.subscription_id)
    assert (invoice.status, invoice.total_atom, [line.quantity for line in invoice.lines]) == (PAID, 0, [0])
    assert await simulator_charges(session, account_id) == before
    assert (await fresh(session, setup.subscription_id)).current_period_end == NEXT_END


async def test_the_next_action_schedules_the_billing_after_the_grace_window(
    database: Database, session: AsyncSession, merchant: tuple[str, str], settings: Settings
) -> None:
    account_id, _ = merchant
    setup = await metered_billing(database, session, account_id, base_amount_atom=BASE)

    action = await next_action(session, account_id, setup.subscription_id, settings)

    grace = timedelta(seconds=settings.usage_grace_seconds)
    assert (action.action, action.at) == ("schedule_billing", END + grace)
