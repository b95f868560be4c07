"""Four worker processes and manual ``renew`` calls through the ``payment-kit`` SDK billing one subscription at once,
against a real server on both backends: every period is invoiced once and charged once.

``tests/payments/test_renewals.py`` races the renewal functions in one process; this races what runs in
production: the server's own worker and three ``checkstand worker`` processes on its database, a test clock advanced
a year over HTTP (each worker's clock job picks it up), and renew requests sent at that moment and repeated while the
workers bill the year, each until it bills a period. A manual renew bills the next period not yet billed, ahead of
its end, so it takes a period from the workers or bills one past the clock: whoever wins, the periods follow one
another, none has two invoices and no invoice two charges."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Final

import httpx
from payment_kit import PaymentKit
from payment_kit.core.api_error import ApiError
from sqlalchemy import func, select

from checkstand.heartbeats.models import WorkerHeartbeat
from checkstand.invoices.models import PAID, SUBSCRIPTION_CYCLE, Invoice
from checkstand.payments.models import Payment, PaymentCharge
from checkstand.subscriptions.models import Subscription
from tests.conftest import bearer
from tests.invoices.factory import billing, simulator_charges
from tests.support import Server, connect_url, server_env

START: Final = datetime(2028, 1, 31, 10, 0, tzinfo=UTC)
EXTRA_WORKERS: Final = 3
"""Beside the server's own worker: four workers."""
MANUAL_RENEWS: Final = 3


@contextmanager
def workers(server: Server, count: int) -> Iterator[list[subprocess.Popen[str]]]:
    """``count`` ``checkstand worker`` processes beside the server, on its database and its at-rest key."""
    with ExitStack() as stack:
        processes = []
        for _ in range(count):
            process = subprocess.Popen(
                [sys.executable, "-m", "checkstand", "worker"],
                env=server_env(server.data_dir, server.database_url),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            stack.callback(_stop, process)
            processes.append(process)
        yield processes


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


async def arrange(server: Server, account_id: str) -> tuple[str, str, int, int]:
    """A subscription on a clock at ``START``; the simulator's charges and the workers' heartbeats so far."""
    database = connect_url(server.database_url)
    try:
        async with database.writing() as session:
            made = await billing(database, session, account_id, frozen_time=START)
            assert made.clock_id is not None
            return (
                made.clock_id,
                made.subscription_id,
                await simulator_charges(session, account_id),
                await beats(server),
            )
    finally:
        await database.dispose()


async def beats(server: Server) -> int:
    database = connect_url(server.database_url)
    try:
        async with database.reading() as session:
            return int(await session.scalar(select(func.count()).select_from(WorkerHeartbeat)) or 0)
    finally:
        await database.dispose()


async def billed(server: Server, account_id: str, subscription_id: str) -> tuple[list[Invoice], int, int, datetime]:
    """The subscription's renewal invoices by period, their charges, the simulator's charges, and the current
    period's end."""
    database = connect_url(server.database_url)
    try:
        async with database.reading() as session:
            invoices = await session.scalars(
                select(Invoice)
                .where(Invoice.subscription_id == subscription_id, Invoice.billing_reason == SUBSCRIPTION_CYCLE)
                .order_by(Invoice.period_start)
            )
            charges = await session.scalar(
                select(func.count())
                .select_from(PaymentCharge)
                .join(Payment, Payment.id == PaymentCharge.payment_id)
                .join(Invoice, Invoice.id == Payment.invoice_id)
                .where(Invoice.subscription_id == subscription_id, Invoice.billing_reason == SUBSCRIPTION_CYCLE)
            )
            subscription = await session.get(Subscription, subscription_id)
            assert subscription is not None
            return (
                list(invoices),
                int(charges or 0),
                await simulator_charges(session, account_id),
                subscription.current_period_end,
            )
    finally:
        await database.dispose()


def test_four_worker_processes_and_manual_renews_bill_each_period_once(server: Server) -> None:
    account_id, secret = server.new_account()
    client = PaymentKit(base_url=server.base_url, token=secret, timeout=60)
    clock_id, subscription_id, charged_before, beats_before = asyncio.run(arrange(server, account_id))

    with workers(server, EXTRA_WORKERS) as processes:
        deadline = time.monotonic() + 60
        while asyncio.run(beats(server)) < beats_before + EXTRA_WORKERS:  # every worker up and polling
            assert all(process.poll() is None for process in processes), "a worker exited"
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)

        start = threading.Barrier(1 + MANUAL_RENEWS)
        advanced = threading.Event()

        def advance() -> httpx.Response:
            start.wait()
            try:
                return httpx.post(
                    f"{server.base_url}/api/{account_id}/test-clocks/{clock_id}/advance",
                    json={"frozen_time": START.replace(year=2029).isoformat()},
                    headers=bearer(secret),
                    timeout=60,
                )
            finally:
                advanced.set()

        def renew() -> list[str | int]:
            """Renew by hand while the workers bill the year, until one renew bills a period: the invoices it
            billed, or the statuses it was refused with."""
            start.wait()
            outcomes: list[str | int] = []
            while not advanced.is_set():
                try:
                    outcomes.append(client.subscriptions.renew_subscription(account_id, subscription_id).invoice_id)
                    return outcomes
                except ApiError as refused:
                    outcomes.append(refused.status_code or 0)
                time.sleep(0.05)
            return outcomes

        with ThreadPoolExecutor(1 + MANUAL_RENEWS) as pool:
            advancing = pool.submit(advance)
            renewing = [pool.submit(renew) for _ in range(MANUAL_RENEWS)]
            outcomes = [outcome for future in renewing for outcome in future.result()]
            assert advancing.result().status_code == 200, advancing.result().text
            assert advancing.result().json()["status"] == "ready"

    invoices, charges, charged_after, period_end = asyncio.run(billed(server, account_id, subscription_id))
    manual = [outcome for outcome in outcomes if isinstance(outcome, str)]
    # A manual renew that lost its period to another biller is told so.
    assert {outcome for outcome in outcomes if not isinstance(outcome, str)} <= {409}
    print(f"\nmanual renews billed {len(manual)} of {len(invoices)} periods, refused {len(outcomes) - len(manual)}")
    # Every period of the year billed once, each where the one before ended, the manual ones among them.
    assert invoices[0].period_start == datetime(2028, 2, 29, 10, 0, tzinfo=UTC)
    assert [a.period_end for a in invoices[:-1]] == [b.period_start for b in invoices[1:]]
    assert 12 <= len(invoices) <= 12 + len(manual)
    assert set(manual) <= {invoice.id for invoice in invoices}
    assert [invoice.status for invoice in invoices] == [PAID] * len(invoices)
    assert charges == len(invoices)
    assert charged_after - charged_before == len(invoices)
    assert period_end == invoices[-1].period_end
