"""Meter events on both backends: aggregated per period as the price says (sum, max, last; an event exactly at a
period's end is the next period's), deduplicated by identifier even when identical reports race, attributed to the
customer's subscription, and refused at the field that is wrong: an unknown customer or meter, a timestamp too far
ahead or in a period a renewal invoice has already billed."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.catalog import service as catalog
from checkstand.core.clock import FrozenClock
from checkstand.core.errors import InvalidFields
from checkstand.customers import service as customers
from checkstand.db import Database
from checkstand.invoices import renewal
from checkstand.test_clocks import service as test_clocks
from checkstand.usage import service as usage
from checkstand.usage.models import MeterEvent
from tests.invoices.factory import fresh
from tests.usage.factory import END, METER, NEXT_END, START, Metered, metered_billing, metered_price


async def report(
    session: AsyncSession, setup: Metered, value: int, at: datetime | None, identifier: str | None = None
) -> tuple[MeterEvent, bool]:
    return await usage.record_meter_event(
        session,
        setup.account_id,
        usage.MeterEventSpec(
            customer_id=setup.customer_id, metered_id=METER, value=value, identifier=identifier, timestamp=at
        ),
    )


async def move_clock(session: AsyncSession, setup: Metered, to: datetime) -> None:
    """The customer's time moves (no worker runs here: nothing is billed by it)."""
    assert setup.clock_id is not None
    await test_clocks.advance_test_clock(session, setup.account_id, setup.clock_id, to)


async def quantity(session: AsyncSession, setup: Metered, start: datetime, end: datetime) -> int:
    subscription = await fresh(session, setup.subscription_id)
    price = await catalog.get_price(session, setup.account_id, setup.price_id)
    return await usage.period_quantity(session, subscription, price, start, end)


async def refusal(
    session: AsyncSession, setup: Metered, spec: usage.MeterEventSpec
) -> tuple[tuple[str | int, ...], str]:
    with pytest.raises(InvalidFields) as refused:
        await usage.record_meter_event(session, setup.account_id, spec)
    [problem] = refused.value.problems
    return problem.path, problem.type


@pytest.mark.parametrize(("aggregation", "expected"), [("sum", 12), ("max", 7), ("last", 3)])
async def test_a_period_aggregates_as_its_price_says(
    database: Database, session: AsyncSession, merchant: tuple[str, str], aggregation: str, expected: int
) -> None:
    setup = await metered_billing(database, session, merchant[0], aggregation=aggregation)
    await move_clock(session, setup, END + timedelta(minutes=30))
    for value, at in ((2, START), (7, START + timedelta(days=1)), (3, END - timedelta(microseconds=1)), (100, END)):
        assert (await report(session, setup, value, at))[1] is True

    assert await quantity(session, setup, START, END) == expected
    report_now = await usage.current_usage(session, await fresh(session, setup.subscription_id))
    assert (report_now.period_start, report_now.period_end) == (START, END)
    [item] = report_now.items
    assert (item.quantity, item.amount_atom) == (expected, expected * 5)
    # The event exactly at the period's end is the next period's.
    assert await quantity(session, setup, END, NEXT_END) == 100


async def test_an_empty_period_is_zero_whatever_the_aggregation(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    for aggregation in ("sum", "max", "last"):
        setup = await metered_billing(database, session, merchant[0], aggregation=aggregation, meter=aggregation)
        [item] = (await usage.current_usage(session, await fresh(session, setup.subscription_id))).items
        assert (item.quantity, item.amount_atom) == (0, 0)


async def test_last_is_the_latest_timestamp_then_the_latest_arrival(
    database: Database, session: AsyncSession, merchant: tuple[str, str], frozen_clock: FrozenClock
) -> None:
    setup = await metered_billing(database, session, merchant[0], aggregation="last")
    await move_clock(session, setup, START + timedelta(days=3))
    late = START + timedelta(days=2)
    for value, at in ((4, late), (6, late), (9, START + timedelta(days=1))):
        await report(session, setup, value, at)
        frozen_clock.advance(timedelta(seconds=1))  # arrival order, as each event's created_at records it

    # 9 arrived last but happened earliest; of the two at the same instant, 6 arrived after 4.
    assert await quantity(session, setup, START, END) == 6


async def test_a_graduated_metered_price_bills_each_tiers_units(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    tiers = [
        {"units_upto": 10, "unit_amount_atom": 100, "flat_amount_atom": 0},
        {"units_upto": 20, "unit_amount_atom": 80, "flat_amount_atom": 0},
        {"units_upto": None, "unit_amount_atom": 50, "flat_amount_atom": 250},
    ]
    setup = await metered_billing(database, session, merchant[0], tiers=tiers)
    await move_clock(session, setup, START + timedelta(days=2))
    await report(session, setup, 20, START + timedelta(hours=1))
    await report(session, setup, 5, START + timedelta(days=1))

    [item] = (await usage.current_usage(session, await fresh(session, setup.subscription_id))).items
    assert (item.quantity, item.amount_atom) == (25, 10 * 100 + 10 * 80 + 5 * 50 + 250)


async def test_the_same_identifier_is_one_event(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    setup = await metered_billing(database, session, merchant[0])
    first, created = await report(session, setup, 3, START, identifier="req-1")
    assert created is True
    again, created_again = await report(session, setup, 300, START + timedelta(minutes=1), identifier="req-1")
    assert (created_again, again.id, again.value) == (False, first.id, 3)
    assert first.subscription_id == setup.subscription_id
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(MeterEvent)) == 1


async def test_identical_reports_racing_record_one_event(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    setup = await metered_billing(database, session, merchant[0])
    racers = 6
    started = asyncio.Barrier(racers)

    async def racer() -> tuple[str, bool]:
        async with database.writing() as own:
            await started.wait()
            event, created = await report(own, setup, 1, START, identifier="same-report")
            await own.commit()
            return event.id, created

    answers = await asyncio.gather(*(racer() for _ in range(racers)))

    assert sorted(created for _, created in answers) == [False] * (racers - 1) + [True]
    assert len({event_id for event_id, _ in answers}) == 1
    assert await session.scalar(select(func.count()).select_from(MeterEvent)) == 1


async def test_usage_of_a_period_already_invoiced_is_refused_at_timestamp(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    setup = await metered_billing(database, session, merchant[0])
    await move_clock(session, setup, END + timedelta(minutes=30))
    # Within the grace window, before the renewal invoice: still the closed period's usage, still billed.
    assert (await report(session, setup, 4, END - timedelta(hours=1)))[1] is True
    subscription = await fresh(session, setup.subscription_id)
    invoice = await renewal.build_renewal_invoice(session, subscription, END, NEXT_END)
    assert [line.quantity for line in invoice.lines] == [4]

    late = usage.MeterEventSpec(customer_id=setup.customer_id, metered_id=METER, value=1, timestamp=END - timedelta(1))
    assert await refusal(session, setup, late) == (("timestamp",), "usage_period_invoiced")
    # The next period's usage is open; while its invoice is being collected the open period is that one.
    assert (await report(session, setup, 2, END))[1] is True
    open_period = await usage.current_usage(session, await fresh(session, setup.subscription_id))
    assert (open_period.period_start, open_period.period_end, open_period.items[0].quantity) == (END, NEXT_END, 2)


async def test_bad_reports_are_refused_at_their_field(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    setup = await metered_billing(database, session, merchant[0])
    other = await customers.create_customer(session, merchant[0], email="grace@example.test")

    def spec(**fields: object) -> usage.MeterEventSpec:
        values: dict[str, object] = {"customer_id": setup.customer_id, "metered_id": METER, "value": 1}
        return usage.MeterEventSpec(**{**values, **fields})  # type: ignore[arg-type]

    assert await refusal(session, setup, spec(customer_id="cus_nobody")) == (("customer_id",), "not_found")
    assert await refusal(session, setup, spec(timestamp=START + timedelta(minutes=6))) == (
        ("timestamp",),
        "value_error",
    )
    assert await refusal(session, setup, spec(timestamp=START - timedelta(seconds=1))) == (
        ("timestamp",),
        "usage_period_invoiced",
    )
    assert await refusal(session, setup, spec(value=-1)) == (("value",), "value_error")
    assert await refusal(session, setup, spec(value=usage.MAX_VALUE + 1)) == (("value",), "value_error")
    assert await refusal(session, setup, spec(customer_id=other.id, metered_id="nope")) == (
        ("metered_id",),
        "not_found",
    )
    assert await session.scalar(select(func.count()).select_from(MeterEvent)) == 0

    # A little ahead of the customer's time is fine (clocks drift); a customer without the meter's subscription
    # is recorded, attributed to none (nothing bills it).
    ahead, _ = await report(session, setup, 1, START + timedelta(minutes=4))
    assert ahead.subscription_id == setup.subscription_id
    unattributed, _ = await usage.record_meter_event(
        session, setup.account_id, usage.MeterEventSpec(customer_id=other.id, metered_id=METER, value=5)
    )
    assert unattributed.subscription_id is None


async def test_a_customer_of_another_account_is_unknown(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    setup = await metered_billing(database, session, merchant[0])
    elsewhere = await accounts.create_account(session, name="Other")
    await metered_price(session, elsewhere.id)
    with pytest.raises(InvalidFields) as refused:
        await usage.record_meter_event(
            session, elsewhere.id, usage.MeterEventSpec(customer_id=setup.customer_id, metered_id=METER, value=1)
        )
    assert [problem.path for problem in refused.value.problems] == [("customer_id",)]
