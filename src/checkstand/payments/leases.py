"""An attempt's lease: how recovery tells an attempt whose process is waiting on a processor from one whose process
died. The process that starts processing an attempt stamps a lease on it in the same transaction, and renews it
every third of its length while it waits on processors; recovery takes over only an attempt whose lease ran out, so
seconds after a crash, and never while its owner lives (a renewal would have to fail twice in a row first)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.db import Database
from checkstand.payments.models import PROCESSING, CheckoutAttempt

logger = logging.getLogger(__name__)


async def hold(session: AsyncSession, attempt_id: str, lease: timedelta) -> None:
    """Stamp (or extend) the lease of an attempt still processing; the caller commits."""
    await session.execute(
        update(CheckoutAttempt)
        .where(CheckoutAttempt.id == attempt_id, CheckoutAttempt.state == PROCESSING)
        .values(lease_expires_at=clock.now() + lease)
        .execution_options(synchronize_session=False)
    )


@contextlib.asynccontextmanager
async def renewing(database: Database, attempt_id: str, lease: timedelta) -> AsyncIterator[None]:
    """Keep the attempt's lease alive, each renewal in a short transaction of its own, for the span of the block."""
    task = asyncio.create_task(_renew(database, attempt_id, lease))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _renew(database: Database, attempt_id: str, lease: timedelta) -> None:
    interval = lease.total_seconds() / 3
    while True:
        await asyncio.sleep(interval)
        try:
            async with database.writing() as session:
                await hold(session, attempt_id, lease)
                await session.commit()
        except Exception:
            # The next renewal may succeed before the lease runs out; the call in hand goes on either way.
            logger.exception("could not renew the lease of attempt %s", attempt_id)
