"""Test clocks: only forward, one advance at a time, the time of the customers on them, and anchored periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.errors import Conflict, InvalidFields
from checkstand.customers import service as customers
from checkstand.subscriptions.periods import next_period_end
from checkstand.test_clocks import service as test_clocks

START = datetime(2028, 1, 31, 10, 0, tzinfo=UTC)


async def test_a_clock_moves_forward_once_at_a_time(session: AsyncSession, merchant: tuple[str, str]) -> None:
    account_id, _ = merchant
    made = await test_clocks.create_test_clock(session, account_id, frozen_time=START, name="c")
    on_it = await customers.create_customer(session, account_id, email="a@example.test", test_clock_id=made.id)
    off_it = await customers.create_customer(session, account_id, email="b@example.test")
    assert await test_clocks.now_for_customer(session, on_it.id) == START
    assert abs(await test_clocks.now_for_customer(session, off_it.id) - clock.now()) < timedelta(seconds=5)

    with pytest.raises(InvalidFields):
        await test_clocks.advance_test_clock(session, account_id, made.id, START)
    advanced = await test_clocks.advance_test_clock(session, account_id, made.id, START + timedelta(days=1))
    assert advanced.status == "advancing"
    with pytest.raises(Conflict):
        await test_clocks.advance_test_clock(session, account_id, made.id, START + timedelta(days=2))
    assert await test_clocks.now_for_customer(session, on_it.id) == START + timedelta(days=1)
    assert await test_clocks.mark_ready(session, advanced)

    await test_clocks.delete_test_clock(session, account_id, made.id)
    await session.refresh(on_it)
    assert on_it.test_clock_id is None
    with pytest.raises(InvalidFields):
        await customers.create_customer(session, account_id, email="c@example.test", test_clock_id=made.id)


def test_periods_are_anchored_to_the_first_day() -> None:
    ends = [START]
    for _ in range(4):
        ends.append(next_period_end(START, "month", 1, ends[-1]))
    assert [(end.month, end.day) for end in ends[1:]] == [(2, 29), (3, 31), (4, 30), (5, 31)]
    assert next_period_end(START, "year", 1, START) == datetime(2029, 1, 31, 10, tzinfo=UTC)
    feb_29 = datetime(2028, 2, 29, tzinfo=UTC)
    assert next_period_end(feb_29, "year", 1, datetime(2029, 2, 28, tzinfo=UTC)) == datetime(2030, 2, 28, tzinfo=UTC)
    assert next_period_end(START, "week", 2, START) == START + timedelta(weeks=2)
