"""A ``checkstand worker`` killed (SIGKILL) mid-renewal, after the processor charged and before the charge was
settled: a worker started afterwards settles it from what the processor recorded under the charge's key, so the
period is charged once and its invoice paid, within seconds of the new worker's start.

The test holds the dying worker exactly between the charge and its settle with two database locks of its own,
nothing mocked inside the worker: first an exclusive lock on the simulator's ``simulator_charges`` (the "network"
can't record the charge yet), until the renewal's charge is committed pending; then a row lock on that pending
charge, which the settle's ``SELECT ... FOR UPDATE`` needs, and only then the simulator's table is let go. The
simulator records the charge, the worker's settle waits on the row, and PostgreSQL shows it waiting: the kill comes
then. This needs PostgreSQL: on SQLite the simulator's charge and the settle both need the database's one write
lock, so no lock of the test's can let the first through and hold the second.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.db import Database
from checkstand.invoices.models import PAID, SUBSCRIPTION_CYCLE, Invoice
from checkstand.payments.models import CHARGE_PENDING, SUCCEEDED, Payment, PaymentCharge
from checkstand.processors.models import SimulatorCharge
from checkstand.subscriptions.models import Subscription
from checkstand.test_clocks import service as test_clocks
from tests import support
from tests.invoices.factory import billing, simulator_charges

START: Final = datetime(2028, 1, 31, 10, 0, tzinfo=UTC)
RENEWED_PERIOD_END: Final = datetime(2028, 3, 31, 10, 0, tzinfo=UTC)
LEASE_SECONDS: Final = 2
STARTED_WITHIN: Final = 60.0
"""Seconds for a worker process to start on a loaded machine and stage the renewal's charge."""
SETTLED_WITHIN: Final = 20.0
"""Seconds from the new worker's start to the invoice paid: its start, the dead charge's lease, one recovery."""


@pytest.fixture
def backend() -> str:
    """PostgreSQL only (see the module's docstring)."""
    return "postgresql"


@contextmanager
def worker_process(data_dir: Path, database_url: str) -> Iterator[subprocess.Popen[str]]:
    """A ``checkstand worker`` on the test's database, its charges leased for ``LEASE_SECONDS``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "checkstand", "worker"],
        env=support.server_env(
            data_dir,
            database_url,
            CHECKSTAND_ATTEMPT_LEASE_SECONDS=str(LEASE_SECONDS),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        assert process.stdout is not None
        process.stdout.close()


async def wait_until(what: str, check: Callable[[], Awaitable[bool]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        await asyncio.sleep(0.05)


async def renewal_charges(database: Database, subscription_id: str) -> list[PaymentCharge]:
    async with database.reading() as fresh:
        found = await fresh.scalars(
            select(PaymentCharge)
            .join(Payment, Payment.id == PaymentCharge.payment_id)
            .join(Invoice, Invoice.id == Payment.invoice_id)
            .where(Invoice.subscription_id == subscription_id, Invoice.billing_reason == SUBSCRIPTION_CYCLE)
        )
        return list(found)


async def renewal_invoices(database: Database, subscription_id: str) -> list[Invoice]:
    async with database.reading() as fresh:
        found = await fresh.scalars(
            select(Invoice).where(
                Invoice.subscription_id == subscription_id, Invoice.billing_reason == SUBSCRIPTION_CYCLE
            )
        )
        return list(found)


async def settle_waiting(database: Database) -> bool:
    """Whether a session of another process waits for the lock on a payment charge to settle it."""
    async with database.reading() as fresh:
        waiting = await fresh.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND wait_event_type = 'Lock' AND query ILIKE '%FROM payment_charges%FOR %UPDATE%'"
            )
        )
        return bool(waiting)


async def test_a_worker_killed_between_the_charge_and_its_settle_is_recovered_by_the_next_with_one_charge(
    database: Database, database_url: str, session: AsyncSession, merchant: tuple[str, str], tmp_path: Path
) -> None:
    account_id, _ = merchant
    setup = await billing(database, session, account_id, frozen_time=START)
    assert setup.clock_id is not None
    charged_before = await simulator_charges(session, account_id)
    await test_clocks.advance_test_clock(session, account_id, setup.clock_id, datetime(2028, 3, 5, tzinfo=UTC))
    await session.commit()

    data_dir = tmp_path / "data"
    async with database.writing() as network, database.writing() as row:
        await network.execute(text("LOCK TABLE simulator_charges IN EXCLUSIVE MODE"))
        with worker_process(data_dir, database_url) as first:

            async def staged() -> bool:
                assert first.poll() is None, first.stdout.read() if first.stdout else ""
                return [c.status for c in await renewal_charges(database, setup.subscription_id)] == [CHARGE_PENDING]

            await wait_until("the renewal's charge committed pending", staged, STARTED_WITHIN)
            [pending] = await renewal_charges(database, setup.subscription_id)
            await row.execute(text("SELECT id FROM payment_charges WHERE id = :id FOR UPDATE"), {"id": pending.id})
            await network.rollback()  # the simulator records the charge now

            async def charged() -> bool:
                async with database.reading() as fresh:
                    return await simulator_charges(fresh, account_id) == charged_before + 1

            await wait_until("the simulator charged", charged, 10)
            await wait_until("the worker's settle waiting on the charge's row", lambda: settle_waiting(database), 10)
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 10)
        await row.rollback()

    # What the dead worker left: the processor charged, nothing recorded.
    [left] = await renewal_charges(database, setup.subscription_id)
    assert left.status == CHARGE_PENDING
    [invoice] = await renewal_invoices(database, setup.subscription_id)
    assert invoice.status != PAID

    with worker_process(data_dir, database_url) as second:
        started = time.monotonic()

        async def paid() -> bool:
            assert second.poll() is None, second.stdout.read() if second.stdout else ""
            return [i.status for i in await renewal_invoices(database, setup.subscription_id)] == [PAID]

        await wait_until("the invoice paid by the new worker", paid, SETTLED_WITHIN)
        print(f"\nrestarted worker -> invoice paid in {time.monotonic() - started:.1f} s")
        await asyncio.sleep(LEASE_SECONDS + 1)  # another recovery round goes by: nothing is charged again

    [settled] = await renewal_charges(database, setup.subscription_id)
    assert (settled.id, settled.status) == (pending.id, SUCCEEDED)
    async with database.reading() as fresh:
        assert await simulator_charges(fresh, account_id) == charged_before + 1
        keyed = await fresh.scalar(
            select(func.count()).where(SimulatorCharge.idempotency_key == pending.idempotency_key)
        )
        assert keyed == 1
        subscription = await fresh.get(Subscription, setup.subscription_id)
        assert subscription is not None
        assert (subscription.status, subscription.current_period_end) == ("active", RENEWED_PERIOD_END)
