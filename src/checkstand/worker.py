"""The background worker: webhook delivery, and periodic jobs each in a transaction of its own.

It runs inside ``checkstand serve`` (unless ``--no-worker``) or alone as ``checkstand worker``. Jobs keep no state in
process memory, so any number of workers can share one PostgreSQL database (on SQLite, one worker runs). A job
that picks rows to act on claims them with ``.with_for_update(skip_locked=True)``: on PostgreSQL two workers then
never take the same row, and on SQLite (which ignores the clause) the write lock each job's transaction takes
(``BEGIN IMMEDIATE``) already lets one worker in at a time. The job re-checks the row's state in its query, so a
row another worker has just handled no longer matches. A job that calls payment processors (recovery) is given the
database instead (:func:`database_jobs`) and opens its own short transactions: no processor call may hold one open.

Webhook delivery runs beside the jobs (:class:`~checkstand.webhooks.delivery.Dispatcher`): it leases what it
claims, so a worker that dies mid-delivery loses nothing; the delivery is claimed again after its lease. The worker
hands it each dialect's rendering of webhook bodies (PaymentKit's ``Event``, Paid's envelope), so delivery itself
knows no dialect.

Its first round runs at start, recovery included, so a restarted process settles the payments its predecessor left
processing as soon as their leases run out (:mod:`checkstand.payments.leases`), or at once when the process holds
its predecessor's instance (``checkstand serve``'s port, ``checkstand worker``'s ``CHECKSTAND_INSTANCE_NAME``),
which ends their leases before the first round.

Each round the worker records a heartbeat in the database (at most every ``worker_heartbeat_seconds``), which
``/readyz`` and ``/metrics`` read on any process.

On :meth:`Worker.stop` (SIGTERM) the worker claims nothing more, finishes the deliveries and the job in hand, removes
its heartbeat, and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.api.http import idempotency
from checkstand.api.paid.webhook_wire import paid_webhook_body
from checkstand.api.paymentkit.event_wire import webhook_body
from checkstand.checkout import lifecycle as checkout_lifecycle
from checkstand.core import clock
from checkstand.core.crypto import SecretBox
from checkstand.core.ids import new_id
from checkstand.dashboard import signin as dashboard_signin
from checkstand.db import Database
from checkstand.heartbeats import service as heartbeats
from checkstand.payments import off_session, renewals
from checkstand.payments.adapters import Gateway
from checkstand.payments.policy import PaymentPolicy
from checkstand.payments.recovery import recover_stuck_attempts
from checkstand.payments.refunds import recover_pending_refunds
from checkstand.receipts import outbox as receipt_outbox
from checkstand.receipts import sending as receipt_sending
from checkstand.settings import Settings
from checkstand.webhooks import endpoints as webhook_endpoints
from checkstand.webhooks.delivery import Dispatcher
from checkstand.webhooks.models import PAID, PAYMENTKIT

logger = logging.getLogger(__name__)

Job = Callable[[AsyncSession], Awaitable[int]]
"""A job that runs in one transaction, which the worker opens and commits."""
DatabaseJob = Callable[[Database], Awaitable[int]]
"""A job that opens its own short transactions, because it calls payment processors between them: no processor call
may hold a transaction open."""


def jobs(settings: Settings) -> dict[str, Job]:
    """Every periodic job by name; a job returns how much it did, and is called again at once if that was not 0."""
    failing_for = timedelta(seconds=settings.webhook_disable_after_seconds)

    async def disable_failing_webhook_endpoints(session: AsyncSession) -> int:
        return await webhook_endpoints.disable_failing_endpoints(session, failing_for=failing_for)

    return {
        "expire_checkout_sessions": checkout_lifecycle.expire_open_sessions,
        "disable_failing_webhook_endpoints": disable_failing_webhook_endpoints,
        "purge_idempotency_keys": idempotency.purge_expired,
        "purge_worker_heartbeats": heartbeats.purge_stale,
        "purge_dashboard_sign_ins": dashboard_signin.purge_expired,
        "resume_paused_subscriptions": renewals.resume_due,
        "notify_trials_ending": renewals.notify_trials_due,
    }


def database_jobs(settings: Settings, lease_owner: str | None = None) -> dict[str, DatabaseJob]:
    """The periodic jobs given the database rather than a transaction; they run after :func:`jobs`. What they
    lease is leased in ``lease_owner``'s name (:mod:`checkstand.payments.leases`)."""
    box = SecretBox(*settings.at_rest_keys)
    policy = PaymentPolicy.of(settings)

    def gateway(database: Database) -> Gateway:
        return Gateway(database, settings.resolved_public_url, box, policy, lease_owner)

    async def recover_checkout_attempts(database: Database) -> int:
        return await recover_stuck_attempts(gateway(database))

    async def recover_refunds(database: Database) -> int:
        return await recover_pending_refunds(gateway(database))

    async def recover_payment_charges(database: Database) -> int:
        return await off_session.recover_charges(gateway(database))

    async def renew_subscriptions(database: Database) -> int:
        return await renewals.renew_due(gateway(database))

    async def retry_overdue_invoices(database: Database) -> int:
        return await renewals.retry_due(gateway(database))

    async def advance_test_clocks(database: Database) -> int:
        return await renewals.advance_test_clocks(gateway(database))

    async def send_receipts(database: Database) -> int:
        return await receipt_sending.send_due(database, settings)

    return {
        "recover_checkout_attempts": recover_checkout_attempts,
        "recover_refunds": recover_refunds,
        "recover_payment_charges": recover_payment_charges,
        "renew_subscriptions": renew_subscriptions,
        "retry_overdue_invoices": retry_overdue_invoices,
        "advance_test_clocks": advance_test_clocks,
        # Last: the payments the jobs above just took owe their receipts now. No SMTP server: nothing is owed.
        **({"send_receipts": send_receipts} if settings.smtp_url is not None else {}),
    }


class Worker:
    def __init__(self, database: Database, settings: Settings, *, lease_owner: str | None = None) -> None:
        self.database = database
        self.settings = settings
        self.lease_owner = lease_owner
        self.id = new_id("wkr")
        if settings.smtp_url is not None:  # the payments its jobs take owe receipts
            receipt_outbox.watch(database)
        render = {PAYMENTKIT: webhook_body, PAID: paid_webhook_body(settings.resolved_public_url)}
        self.dispatcher = Dispatcher(database, settings, worker_id=self.id, render=render)
        self._stopping = asyncio.Event()
        self._started_at = clock.now()
        self._next_beat = 0.0  # time.monotonic() at which the next heartbeat is due

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
        for name, database_job in database_jobs(self.settings, self.lease_owner).items():
            try:
                done[name] = await database_job(self.database)
            except Exception:
                logger.exception("job %s failed; it runs again next round", name)
                done[name] = 0
        return done

    async def beat(self) -> None:
        """Record that this worker is alive, unless it did so less than ``worker_heartbeat_seconds`` ago. A failure
        is logged, not raised: the jobs may still run, and a missing heartbeat is what /readyz reports."""
        if time.monotonic() < self._next_beat:
            return
        try:
            async with self.database.writing() as session:
                await heartbeats.beat(
                    session, self.id, hostname=socket.gethostname(), pid=os.getpid(), started_at=self._started_at
                )
                await session.commit()
            self._next_beat = time.monotonic() + self.settings.worker_heartbeat_seconds
        except Exception:
            logger.exception("could not record the heartbeat of worker %s; trying again next round", self.id)

    async def _forget(self) -> None:
        try:
            async with self.database.writing() as session:
                await heartbeats.forget(session, self.id)
                await session.commit()
        except Exception:
            logger.exception("could not remove the heartbeat of worker %s; it is purged once stale", self.id)

    async def run_once(self) -> dict[str, int]:
        """One round of everything: the heartbeat, the periodic jobs, then every delivery due now."""
        await self.beat()
        done = await self.run_jobs()
        done["deliver_webhooks"] = await self.dispatcher.deliver_due()
        return done

    async def run(self) -> None:
        logger.info("worker started (%s)", self.id)
        await asyncio.gather(self._run_jobs_until_stopped(), self.dispatcher.run(self._stopping))
        await self._forget()
        logger.info("worker stopped (%s)", self.id)

    async def _run_jobs_until_stopped(self) -> None:
        while not self._stopping.is_set():
            await self.beat()
            done = await self.run_jobs()
            if any(done.values()):
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.settings.worker_poll_seconds)
