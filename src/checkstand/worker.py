"""The background worker: webhook delivery, and periodic jobs each in a transaction of its own.

It runs inside ``checkstand serve`` (unless ``--no-worker``) or alone as ``checkstand worker``. Jobs keep no state in
process memory, so any number of workers can share one PostgreSQL database (on SQLite, one worker runs). A job
that picks rows to act on claims them with ``.with_for_update(skip_locked=True)``: on PostgreSQL two workers then
never take the same row, and on SQLite (which ignores the clause) the write lock each job's transaction takes
(``BEGIN IMMEDIATE``) already lets one worker in at a time. The job re-checks the row's state in its query, so a
row another worker has just handled no longer matches.

Webhook delivery runs beside the jobs (:class:`~checkstand.webhooks.delivery.Dispatcher`): it leases what it
claims, so a worker that dies mid-delivery loses nothing; the delivery is claimed again after its lease.

On :meth:`Worker.stop` (SIGTERM) the worker claims nothing more, finishes the deliveries and the job in hand, and
returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.api.http import idempotency
from checkstand.checkout import service as checkout
from checkstand.core.crypto import SecretBox
from checkstand.core.ids import new_id
from checkstand.db import Database
from checkstand.payments import attempts
from checkstand.settings import Settings
from checkstand.webhooks import endpoints as webhook_endpoints
from checkstand.webhooks.delivery import Dispatcher

logger = logging.getLogger(__name__)

Job = Callable[[AsyncSession], Awaitable[int]]


def jobs(settings: Settings) -> dict[str, Job]:
    """Every periodic job by name; a job returns how much it did, and is called again at once if that was not 0."""
    failing_for = timedelta(seconds=settings.webhook_disable_after_seconds)

    async def disable_failing_webhook_endpoints(session: AsyncSession) -> int:
        return await webhook_endpoints.disable_failing_endpoints(session, failing_for=failing_for)

    box = SecretBox(settings.resolved_secret_key)

    async def recover_checkout_attempts(session: AsyncSession) -> int:
        return await attempts.recover_stuck_attempts(session, public_url=settings.resolved_public_url, box=box)

    return {
        "expire_checkout_sessions": checkout.expire_open_sessions,
        "disable_failing_webhook_endpoints": disable_failing_webhook_endpoints,
        "purge_idempotency_keys": idempotency.purge_expired,
        "recover_checkout_attempts": recover_checkout_attempts,
    }


class Worker:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self.id = new_id("wkr")
        self.dispatcher = Dispatcher(database, settings, worker_id=self.id)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask the worker to finish what it holds and return."""
        self._stopping.set()

    async def run_jobs(self) -> dict[str, int]:
        """Run every periodic job once."""
        done: dict[str, int] = {}
        for name, job in jobs(self.settings).items():
            async with self.database.writing() as session:
                try:
                    done[name] = await job(session)
                    await session.commit()
                except Exception:
                    await session.rollback()
                    logger.exception("job %s failed; it runs again next round", name)
                    done[name] = 0
        return done

    async def run_once(self) -> dict[str, int]:
        """One round of everything: the periodic jobs, then every delivery due now."""
        done = await self.run_jobs()
        done["deliver_webhooks"] = await self.dispatcher.deliver_due()
        return done

    async def run(self) -> None:
        logger.info("worker started (%s)", self.id)
        await asyncio.gather(self._run_jobs_until_stopped(), self.dispatcher.run(self._stopping))
        logger.info("worker stopped (%s)", self.id)

    async def _run_jobs_until_stopped(self) -> None:
        while not self._stopping.is_set():
            done = await self.run_jobs()
            if any(done.values()):
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.settings.worker_poll_seconds)
