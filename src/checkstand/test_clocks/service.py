"""Test clocks: made, read, listed, deleted and advanced; and the time every rule about a customer reads.

A customer attached to a clock lives at the clock's ``frozen_time``; any other customer at the real time
(:func:`checkstand.core.clock.now`). :func:`now_for_customer` says which for one customer, and
:func:`customer_now` is the same rule as a SQL expression for the worker's queries over many customers.

Advancing moves ``frozen_time`` and marks the clock ``advancing``; the worker then catches the clock's customers
up (every renewal, retry and trial end due in between, in time order, each as of its own due moment) and marks it
``ready``. Checkstand has no separate test mode: any account may make clocks, and only customers created on one
live by it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, TypeVarTuple

from sqlalchemy import ColumnElement, Select, String, column, func, literal, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.errors import Conflict, InvalidFields
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.core.pagination import Page, paginate
from checkstand.db import Database, UTCDateTime
from checkstand.events.service import record_event, snapshot
from checkstand.test_clocks.models import ADVANCING, READY, TestClock

Ts = TypeVarTuple("Ts")

CLOCK_PREFIX: Final = "clock"
# The customers table as far as clocks see it: customers (a layer above) name their clock, so this module reads the
# link without importing their model.
CUSTOMERS: Final = table(
    "customers", column("id", String), column("account_id", String), column("test_clock_id", String)
)
STATUSES: Final = (READY, ADVANCING)
WAIT_POLL_SECONDS: Final = 0.1

LIST_SPEC: Final = ListSpec(
    filterable={"status": TestClock.status, "name": TestClock.name},
    sortable={"created_at": TestClock.created_at, "frozen_time": TestClock.frozen_time},
    searchable=(TestClock.id, TestClock.name),
    created_at=TestClock.created_at,
    tiebreak=TestClock.id,
)


def _clocks(account_id: str) -> Select[TestClock]:
    return select(TestClock).where(TestClock.account_id == account_id)


async def create_test_clock(
    session: AsyncSession, account_id: str, *, frozen_time: datetime, name: str | None = None
) -> TestClock:
    """A ready clock at ``frozen_time``; records ``test_clock.created``."""
    test_clock = TestClock(
        id=new_id(CLOCK_PREFIX), account_id=account_id, name=name, frozen_time=frozen_time, status=READY
    )
    session.add(test_clock)
    await session.flush()
    await record_event(session, account_id=account_id, type="test_clock.created", obj=test_clock)
    return test_clock


async def get_test_clock(session: AsyncSession, account_id: str, clock_id: str) -> TestClock:
    return await one_or_not_found(session, _clocks(account_id).where(TestClock.id == clock_id), "test_clock", clock_id)


async def list_test_clocks(session: AsyncSession, account_id: str, params: ListParams) -> Page[TestClock]:
    return await paginate(session, apply_list_params(_clocks(account_id), LIST_SPEC, params), params.page)


async def delete_test_clock(session: AsyncSession, account_id: str, clock_id: str) -> TestClock:
    """The clock is gone; its customers stay and live at the real time from now on. Records
    ``test_clock.deleted``."""
    test_clock = await get_test_clock(session, account_id, clock_id)
    await session.execute(
        update(CUSTOMERS)
        .where(CUSTOMERS.c.account_id == account_id, CUSTOMERS.c.test_clock_id == clock_id)
        .values(test_clock_id=None)
        .execution_options(synchronize_session=False)
    )
    await record_event(session, account_id=account_id, type="test_clock.deleted", obj=test_clock)
    await session.delete(test_clock)
    await session.flush()
    return test_clock


async def advance_test_clock(session: AsyncSession, account_id: str, clock_id: str, frozen_time: datetime) -> TestClock:
    """Move the clock forward to ``frozen_time`` (later than its time now) and hand the catching up to the worker;
    records ``test_clock.advancing``. A clock still advancing can't be moved again until it is ready (as
    Stripe's)."""
    test_clock = await one_or_not_found(
        session, locked(_clocks(account_id).where(TestClock.id == clock_id)), "test_clock", clock_id
    )
    if test_clock.status != READY:
        raise Conflict(f"Test clock {clock_id} is still advancing.", code="test_clock_advancing")
    if frozen_time <= test_clock.frozen_time:
        raise InvalidFields.one(("frozen_time",), "must be later than the clock's current frozen_time")
    before = snapshot(test_clock)
    test_clock.frozen_time = frozen_time
    test_clock.status = ADVANCING
    await session.flush()
    await record_event(session, account_id=account_id, type="test_clock.advancing", obj=test_clock, before=before)
    return test_clock


async def advancing_clocks(session: AsyncSession, limit: int) -> Sequence[TestClock]:
    """Clocks the worker has customers to catch up for, longest waiting first."""
    query = select(TestClock).where(TestClock.status == ADVANCING).order_by(TestClock.updated_at).limit(limit)
    return (await session.scalars(query)).all()


async def mark_ready(session: AsyncSession, test_clock: TestClock) -> bool:
    """The clock's customers are caught up with ``test_clock.frozen_time``: it is ready again, unless it was
    advanced further (or deleted) meanwhile. Records ``test_clock.ready``; says whether it did."""
    before = snapshot(test_clock)
    done = await session.execute(
        update(TestClock)
        .where(
            TestClock.id == test_clock.id,
            TestClock.status == ADVANCING,
            TestClock.frozen_time == test_clock.frozen_time,
        )
        .values(status=READY, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        return False
    await session.refresh(test_clock)
    await record_event(
        session, account_id=test_clock.account_id, type="test_clock.ready", obj=test_clock, before=before
    )
    return True


async def wait_until_ready(database: Database, account_id: str, clock_id: str, *, wait_seconds: float) -> TestClock:
    """The clock once the worker has caught it up, or as it is when ``wait_seconds`` have passed (still
    advancing). Each look is a short read of its own, so the wait holds no lock the worker needs."""
    deadline = time.monotonic() + wait_seconds
    while True:
        async with database.reading() as session:
            test_clock = await get_test_clock(session, account_id, clock_id)
        if test_clock.status == READY or time.monotonic() >= deadline:
            return test_clock
        await asyncio.sleep(WAIT_POLL_SECONDS)


# --- The time a customer lives at ---------------------------------------------------------------------------------


async def now_for_customer(session: AsyncSession, customer_id: str) -> datetime:
    """The customer's clock's frozen time, or the real time for a customer on no clock."""
    frozen: datetime | None = await session.scalar(
        select(TestClock.frozen_time)
        .join(CUSTOMERS, CUSTOMERS.c.test_clock_id == TestClock.id)
        .where(CUSTOMERS.c.id == customer_id)
    )
    return frozen if frozen is not None else clock.now()


def customer_now(real_now: datetime) -> ColumnElement[Any]:
    """:func:`now_for_customer` for a query that outer-joins ``TestClock`` on ``Customer.test_clock_id``: the
    clock's frozen time, else ``real_now``."""
    return func.coalesce(TestClock.frozen_time, literal(real_now, UTCDateTime()))


def with_customer_clock(query: Select[*Ts], customer_id_column: Any) -> Select[*Ts]:
    """``query`` joined to the customer its rows belong to and (outer: most customers have none) that customer's
    clock, for :func:`customer_now` and :func:`on_no_advancing_clock`."""
    return query.join(CUSTOMERS, CUSTOMERS.c.id == customer_id_column).outerjoin(
        TestClock, TestClock.id == CUSTOMERS.c.test_clock_id
    )


def on_clock(test_clock_id: str) -> Select[str]:
    """The ids of the clock's customers, for ``customer_id IN (...)``."""
    return select(CUSTOMERS.c.id).where(CUSTOMERS.c.test_clock_id == test_clock_id)


def on_no_advancing_clock() -> ColumnElement[bool]:
    """Rows of customers the regular jobs handle: on no clock, or on one at rest. An advancing clock's customers are
    caught up by the clock's own job, in time order."""
    return func.coalesce(TestClock.status, READY) == READY
