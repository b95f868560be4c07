"""Crash safety: an attempt left processing is settled by the recovery pass with the processor's own answer for
its idempotency key, so a process killed between the charge and its record ends with exactly one charge."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import service as checkout
from checkstand.core.clock import FrozenClock
from checkstand.db import Database
from checkstand.payments import flow as payment_flow
from checkstand.payments import leases, recovery
from checkstand.payments.models import FAILED, PROCESSING, REQUIRES_ACTION, SUCCEEDED, CheckoutAttempt, Payment
from checkstand.processors.models import SimulatorCharge
from tests.payments import flow
from tests.shop import Shop

ROOT = Path(__file__).resolve().parents[2]


async def recover(database: Database) -> int:
    return await recovery.recover_stuck_attempts(flow.gateway(database))


async def only_attempt(database: Database) -> CheckoutAttempt:
    async with database.reading() as fresh:
        found = list(await fresh.scalars(select(CheckoutAttempt)))
    assert len(found) == 1
    return found[0]


async def test_a_process_killed_after_the_charge_is_completed_by_recovery_with_one_charge(
    session: AsyncSession, database: Database, database_url: str, shop: Shop, frozen_clock: FrozenClock
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.yearly])

    crashed = subprocess.run(
        [sys.executable, "-m", "tests.payments.crash_confirm", database_url, created.secure_token],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert "charged: succeeded" in crashed.stdout
    left = await only_attempt(database)
    assert left.state == PROCESSING
    async with database.reading() as fresh:
        assert await flow.count(fresh, SimulatorCharge, shop.account_id) == 1
        assert await flow.count(fresh, Payment, shop.account_id) == 0

    # Within the lease the attempt may still belong to a live request: recovery leaves it be.
    assert await recover(database) == 0
    # The child ran on the real clock, a little after this test's clock was frozen.
    frozen_clock.advance(flow.POLICY.attempt_lease + timedelta(minutes=1))
    assert await recover(database) == 1
    assert await recover(database) == 0

    settled = await only_attempt(database)
    assert settled.state == SUCCEEDED
    async with database.reading() as fresh:
        assert await flow.count(fresh, SimulatorCharge, shop.account_id) == 1
        assert await flow.count(fresh, Payment, shop.account_id) == 1
        done = await checkout.get_session(fresh, shop.account_id, created.id)
    assert done.status == "success"
    assert settled.subscription_id is not None


async def test_recovery_leaves_an_attempt_alone_while_its_process_renews_the_lease(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])
    lease = timedelta(seconds=0.3)
    async with database.writing() as writing:
        attempt, _ = await payment_flow.begin_attempt(
            writing, created.secure_token, flow.paying(), public_url=flow.PUBLIC_URL, limits=flow.POLICY.rate_limits
        )
        await leases.hold(writing, attempt.id, lease)
        await writing.commit()

    async with leases.renewing(database, attempt.id, lease):
        for _ in range(3):  # twice past the first lease in all
            frozen_clock.advance(timedelta(seconds=0.2))
            await asyncio.sleep(1)  # renewals (every 0.1 s) stamp the moved clock
            assert await recover(database) == 0
    # Its process stopped renewing (it died): recovery takes over once the lease runs out.
    frozen_clock.advance(lease)
    assert await recover(database) == 1


async def test_a_charge_the_processor_never_received_fails_the_attempt_without_charging(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])
    async with database.writing() as writing:
        await payment_flow.begin_attempt(
            writing, created.secure_token, flow.paying(), public_url=flow.PUBLIC_URL, limits=flow.POLICY.rate_limits
        )
        await writing.commit()

    frozen_clock.advance(flow.POLICY.attempt_lease + timedelta(seconds=1))
    assert await recover(database) == 1

    settled = await only_attempt(database)
    assert settled.state == FAILED
    assert [p.charge_status for p in settled.processor_attempts] == ["unavailable"]
    async with database.reading() as fresh:
        assert await flow.count(fresh, SimulatorCharge, shop.account_id) == 0
        assert checkout.state(await checkout.get_session(fresh, shop.account_id, created.id)) == "open"
    # The session is free for the customer's next try.
    again = await payment_flow.confirm(flow.gateway(database), created.secure_token, flow.paying())
    assert again.state == SUCCEEDED


async def test_an_abandoned_challenge_fails_after_its_time_and_frees_the_session(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])
    gateway = flow.gateway(database)
    waiting = await payment_flow.confirm(gateway, created.secure_token, flow.paying(flow.card(flow.THREE_DS_CARD)))
    assert waiting.state == REQUIRES_ACTION

    frozen_clock.advance(flow.POLICY.challenge_timeout - timedelta(seconds=1))
    assert await recover(database) == 0
    frozen_clock.advance(timedelta(seconds=2))
    assert await recover(database) == 1

    settled = await only_attempt(database)
    assert settled.state == FAILED
    assert settled.decline_code == "authentication_failed"
    paid = await payment_flow.confirm(gateway, created.secure_token, flow.paying())
    assert paid.state == SUCCEEDED
