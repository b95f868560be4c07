"""``test-clocks/``: Stripe's test clocks, which the PaymentKit SDK has no client for (call them over HTTP).

Create a clock at a frozen time, create customers on it (``test_clock_id`` on ``POST customers/``), then advance it:
the answer comes once the worker has caught the clock's customers up (renewals, trial ends, dunning retries, each
as of its own moment), or after ``CHECKSTAND_TEST_CLOCK_ADVANCE_WAIT_SECONDS`` with the clock still ``advancing``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from pydantic import AwareDatetime, Field

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import PageOut, ResponseModel, WireModel
from checkstand.core.listing import ListParams
from checkstand.test_clocks import service as test_clocks
from checkstand.test_clocks.models import TestClock

router = APIRouter(prefix="/api/{account_id}/test-clocks", tags=["test-clocks"])


class TestClockCreate(WireModel):
    __test__ = False  # not a pytest test class, whatever its name says

    frozen_time: AwareDatetime = Field(description="The time the clock starts at; its customers live at it.")
    name: Annotated[str, Field(max_length=300)] | None = None


class TestClockAdvance(WireModel):
    __test__ = False

    frozen_time: AwareDatetime = Field(description="The new time: later than the clock's current frozen_time.")


class TestClockOut(ResponseModel):
    __test__ = False

    id: str
    object: str = "test_clock"
    account_id: str
    name: str | None
    frozen_time: datetime
    status: str = Field(description="ready, or advancing while the worker catches the clock's customers up.")
    deleted: bool = False
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, test_clock: TestClock, *, deleted: bool = False) -> TestClockOut:
        return cls(
            id=test_clock.id,
            account_id=test_clock.account_id,
            name=test_clock.name,
            frozen_time=test_clock.frozen_time,
            status=test_clock.status,
            deleted=deleted,
            created_at=test_clock.created_at,
            updated_at=test_clock.updated_at,
        )


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_test_clock(account_id: AccountId, body: TestClockCreate, session: Session) -> TestClockOut:
    clock = await test_clocks.create_test_clock(session, account_id, frozen_time=body.frozen_time, name=body.name)
    return TestClockOut.of(clock)


ClockListQuery = Annotated[ListParams, Depends(list_query(test_clocks.LIST_SPEC))]


@router.get("/")
async def list_test_clocks(account_id: AccountId, params: ClockListQuery, session: Session) -> PageOut[TestClockOut]:
    """Newest first; ``filter`` takes ``status`` and ``name``."""
    page = await test_clocks.list_test_clocks(session, account_id, params)
    return PageOut[TestClockOut].of(page, [TestClockOut.of(clock) for clock in page.items])


@router.get("/{clock_id}")
async def get_test_clock(account_id: AccountId, clock_id: str, session: Session) -> TestClockOut:
    return TestClockOut.of(await test_clocks.get_test_clock(session, account_id, clock_id))


@router.delete("/{clock_id}")
async def delete_test_clock(account_id: AccountId, clock_id: str, session: Session) -> TestClockOut:
    """The clock is deleted (``deleted: true``); its customers stay, at the real time from now on."""
    return TestClockOut.of(await test_clocks.delete_test_clock(session, account_id, clock_id), deleted=True)


@router.post("/{clock_id}/advance")
async def advance_test_clock(
    account_id: AccountId, clock_id: str, body: TestClockAdvance, request: Request, session: Session
) -> TestClockOut:
    """Moves the clock to ``frozen_time`` and answers once its customers are caught up (``status: ready``), or
    after the configured wait with ``status: advancing`` (poll ``GET`` until ready)."""
    await test_clocks.advance_test_clock(session, account_id, clock_id, body.frozen_time)
    # The worker catches the clock up in transactions of its own: the advance is committed before the wait, and the
    # wait holds no transaction open (on SQLite this request's would be the database's write lock).
    await session.commit()
    clock = await test_clocks.wait_until_ready(
        request.app.state.database,
        account_id,
        clock_id,
        wait_seconds=request.app.state.settings.test_clock_advance_wait_seconds,
    )
    return TestClockOut.of(clock)
