"""A ``checkstand serve`` killed (SIGKILL) while several payments are charged but not yet recorded: every one of them
is completed within seconds, each with one charge, on SQLite and on PostgreSQL. Either by a process already running
beside it on the same database, or, with no process left, by a fresh ``checkstand serve`` started after the kill (as
an operator or a supervisor restarts one); meanwhile a customer who retries is told the attempt is in progress, then
that the session is paid, and never charged again. The attempts' leases make it quick and safe: the dead process
stops renewing them, and recovery takes over once they run out. A process restarted on the dead one's port doesn't
wait for that: it holds the same instance, so it knows the leases' owner is dead and ends them at start, and its
first worker round settles the payments (with a lease far longer than the deadline, so the test shows it).

Two gates of the test's own hold the server exactly between the charge and its record, with nothing mocked inside
it. The processor is Stripe (localstripe) behind a :class:`StripeGate` that holds each PaymentIntent's creation
until every attempt is committed as processing; then the test locks the database (:func:`hold_records`) and opens
the gate: Stripe charges, and the server's transaction that would record the answer waits on the test's lock until
the server is killed. On PostgreSQL the lock is a table lock on ``payments``. SQLite has one write lock for the
whole database, which the built-in simulator would need for the charge itself; Stripe charges outside the database,
so there the test holds the write lock (``BEGIN IMMEDIATE``) and the charges still go through.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import httpx
from aiohttp import web
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.crypto import SecretBox
from checkstand.db import Database
from checkstand.events.models import Event
from checkstand.payments.models import Payment, ProcessorAttempt
from checkstand.processors.stripe import METADATA_KEY
from tests import support
from tests.localstripe import SUCCEEDING_METHOD, LocalStripe
from tests.payments import flow
from tests.payments.test_slow_processor import StripeGate
from tests.shop import Shop

SESSIONS: Final = 4
SETTLED_WITHIN: Final = 15.0
"""Seconds from the kill, or from the restart, to every charged session completed: the target of issue 18."""
CHARGED_WITHIN: Final = 60.0
AT_REST_KEY: Final = secrets.token_urlsafe(32)
"""The servers' at-rest key, so that the test can seal the Stripe connection it writes for them."""
SHIPPED_POLL: Final = {"CHECKSTAND_WORKER_POLL_SECONDS": "1.0"}
"""The worker's default poll (test servers otherwise poll every 0.2 s): a restart is measured as an operator gets it."""
LONG_LEASE: Final = {"CHECKSTAND_ATTEMPT_LEASE_SECONDS": "60"}
"""Far past :data:`SETTLED_WITHIN`: a restart that settles in time ended its predecessor's leases, not waited them
out."""
IN_PROGRESS: Final = "checkout_attempt_in_progress"
COMPLETED: Final = "checkout_session_completed"


class HeldStripe:
    """localstripe behind a :class:`StripeGate` that holds every PaymentIntent creation until :meth:`open`, and
    counts them. It stays up across the kill and the restart: the connection's ``api_base`` is the gate's."""

    def __init__(self, localstripe: LocalStripe) -> None:
        self.localstripe = localstripe
        self.created = 0
        self.gate = StripeGate(localstripe.api_base, self._creation)

    @property
    def api_base(self) -> str:
        return self.gate.api_base

    async def __aenter__(self) -> Self:
        await self.gate.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.gate.__aexit__(exc_type, exc, traceback)

    def _creation(self, request: web.Request) -> bool:
        if request.method == "POST" and request.path == "/v1/payment_intents":
            self.created += 1
            return True
        return False

    async def statuses(self, keys: Sequence[str]) -> list[list[str]]:
        """For each idempotency key, the status of every PaymentIntent Stripe holds for it."""

        def of(key: str) -> list[str]:
            return [str(intent["status"]) for intent in self.localstripe.payment_intents_with_key(key, METADATA_KEY)]

        return [await asyncio.to_thread(of, key) for key in keys]


@contextlib.asynccontextmanager
async def serving(
    data_dir: Path, database_url: str, *, port: int | None = None, **env: str
) -> AsyncIterator[support.Server]:
    """``support.run_server`` off the event loop, which meanwhile goes on serving the Stripe gate (a restarting
    server's first recovery round asks Stripe before the test sees it up)."""
    running = support.run_server(data_dir, database_url, port=port, CHECKSTAND_SECRET_KEY=AT_REST_KEY, **env)
    server = await asyncio.to_thread(running.__enter__)
    try:
        yield server
    finally:
        await asyncio.to_thread(running.__exit__, None, None, None)


async def arrange(session: AsyncSession, shop: Shop, stripe: HeldStripe) -> list[str]:
    """A Stripe connection through the gate, and the sessions' secure tokens."""
    await flow.stripe(session, shop.account_id, stripe.api_base, box=SecretBox(AT_REST_KEY))
    return [(await flow.open_session(session, shop.account_id, [shop.tshirt])).secure_token for _ in range(SESSIONS)]


def confirm_body() -> dict[str, object]:
    return {
        "payment_method": {"payment_method_id": SUCCEEDING_METHOD},
        "customer": {"name": "Ada", "email": "ada@example.com"},
    }


async def counted(database: Database, account_id: str) -> tuple[int, int, int]:
    """The account's charges recorded as succeeded, its payments, and its checkout_session.completed events."""
    async with database.reading() as fresh:
        charges = await fresh.scalar(
            select(func.count())
            .select_from(ProcessorAttempt)
            .where(ProcessorAttempt.account_id == account_id, ProcessorAttempt.charge_status == "succeeded")
        )
        payments = await fresh.scalar(select(func.count()).select_from(Payment).where(Payment.account_id == account_id))
        completed = await fresh.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.account_id == account_id, Event.type == "checkout_session.completed")
        )
    return int(charges or 0), int(payments or 0), int(completed or 0)


async def wait_for(database: Database, account_id: str, want: tuple[int, int, int], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (seen := await counted(database, account_id)) != want:
        assert time.monotonic() < deadline, f"(charges, payments, completed) = {seen}, not {want}, after {seconds} s"
        await asyncio.sleep(0.1)


async def charge_keys(database: Database, account_id: str) -> list[str]:
    """The idempotency key of every charge the account's attempts made (one per attempt, and one attempt each)."""
    async with database.reading() as fresh:
        keys = await fresh.scalars(
            select(ProcessorAttempt.idempotency_key).where(ProcessorAttempt.account_id == account_id)
        )
        return [key for key in keys if key is not None]


async def hold_records(held: AsyncSession, backend: str) -> None:
    """Keep the server from recording a processor's answer: on PostgreSQL with a lock on the table a completion
    writes (leases and reads go on), on SQLite with the database's one write lock (reads go on)."""
    if backend == "postgresql":
        await held.execute(text("LOCK TABLE payments IN EXCLUSIVE MODE"))
    else:
        await held.execute(text("SELECT 1"))  # a writing session begins with BEGIN IMMEDIATE on SQLite


@contextlib.asynccontextmanager
async def charged_not_recorded(
    server: support.Server, tokens: Sequence[str], account_id: str, stripe: HeldStripe, backend: str
) -> AsyncIterator[list[asyncio.Task[httpx.Response]]]:
    """Pays every session on ``server``, and yields the customers' requests once Stripe has charged them all while
    the server waits to record the answers. The test's lock is let go when the block ends: kill the server in it."""
    database = support.connect_url(server.database_url)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=CHARGED_WITHIN) as client:
            paying = [
                asyncio.create_task(client.post(f"/api/public/checkout/{token}/confirm", json=confirm_body()))
                for token in tokens
            ]
            deadline = time.monotonic() + CHARGED_WITHIN
            while stripe.created < len(tokens):  # each attempt committed as processing, its charge at the gate
                assert time.monotonic() < deadline, f"{stripe.created} of {len(tokens)} charges reached Stripe"
                ended = [
                    repr(task.exception()) if task.exception() else task.result().text for task in paying if task.done()
                ]
                assert not ended, f"{ended}; the server said:\n{''.join(server.output[-40:])}"
                await asyncio.sleep(0.05)
            async with database.writing() as held:
                await hold_records(held, backend)
                stripe.gate.open()
                keys = await charge_keys(database, account_id)
                while await stripe.statuses(keys) != [["succeeded"]] * len(tokens):
                    assert time.monotonic() < deadline, "Stripe did not charge every payment"
                    await asyncio.sleep(0.1)
                assert await counted(database, account_id) == (0, 0, 0)
                yield paying
                await held.rollback()
    finally:
        await database.dispose()


async def kill(server: support.Server, paying: Sequence[asyncio.Task[httpx.Response]]) -> float:
    """SIGKILL, as the OOM killer or a lost machine would; the customers' requests die with it. When it died."""
    server.process.send_signal(signal.SIGKILL)
    await asyncio.to_thread(server.process.wait, 10)
    killed_at = time.monotonic()
    answers = await asyncio.gather(*paying, return_exceptions=True)
    assert all(isinstance(answer, httpx.TransportError) for answer in answers), answers
    return killed_at


async def charged_once(database: Database, account_id: str, stripe: HeldStripe) -> None:
    """One PaymentIntent per attempt, succeeded, and nothing more once another recovery round has gone by."""
    await asyncio.sleep(1.5)
    assert await counted(database, account_id) == (SESSIONS, SESSIONS, SESSIONS)
    keys = await charge_keys(database, account_id)
    assert len(keys) == SESSIONS
    assert await stripe.statuses(keys) == [["succeeded"]] * SESSIONS


async def test_a_process_beside_a_killed_server_completes_its_charged_payments_within_seconds(
    session: AsyncSession,
    database: Database,
    database_url: str,
    backend: str,
    shop: Shop,
    localstripe: LocalStripe,
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    async with HeldStripe(localstripe) as stripe:
        tokens = await arrange(session, shop, stripe)
        # The other process is up before the payments (on SQLite its start would wait on the test's write lock): the
        # deadline measures the takeover, not how long a loaded machine takes to import the web stack.
        async with serving(data_dir, database_url) as first, serving(data_dir, database_url):
            async with charged_not_recorded(first, tokens, shop.account_id, stripe, backend) as paying:
                killed_at = await kill(first, paying)
            left = SETTLED_WITHIN - (time.monotonic() - killed_at)
            await wait_for(database, shop.account_id, (SESSIONS, SESSIONS, SESSIONS), left)
            print(f"\n[{backend}] beside: killed -> completed in {time.monotonic() - killed_at:.1f} s")
            await charged_once(database, shop.account_id, stripe)


async def test_a_server_restarted_after_a_kill_completes_the_charged_payments_its_predecessor_left(
    session: AsyncSession,
    database: Database,
    database_url: str,
    backend: str,
    shop: Shop,
    localstripe: LocalStripe,
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    async with HeldStripe(localstripe) as stripe:
        tokens = await arrange(session, shop, stripe)
        async with (
            serving(data_dir, database_url, **SHIPPED_POLL, **LONG_LEASE) as first,
            charged_not_recorded(first, tokens, shop.account_id, stripe, backend) as paying,
        ):
            killed_at = await kill(first, paying)
        # No Checkstand process is left on the database. A new one starts, as `checkstand serve` (with its worker) on
        # the same port, as a supervisor restarts one.
        restarted_at = time.monotonic()
        async with (
            serving(
                data_dir, database_url, port=httpx.URL(first.base_url).port, **SHIPPED_POLL, **LONG_LEASE
            ) as restarted,
            httpx.AsyncClient(base_url=restarted.base_url, timeout=SETTLED_WITHIN) as customer,
        ):
            up_at = time.monotonic()
            # The first customer tries again: told the payment is in progress until it is recorded, then that the
            # session is paid; never charged a second time.
            while True:
                retried = await customer.post(f"/api/public/checkout/{tokens[0]}/confirm", json=confirm_body())
                assert retried.status_code == 409, retried.text
                if retried.json()["code"] != IN_PROGRESS:
                    break
                assert time.monotonic() - restarted_at < SETTLED_WITHIN, "the retry still answers in progress"
                await asyncio.sleep(0.2)
            unstuck_at = time.monotonic()
            assert retried.json()["code"] == COMPLETED, retried.text
            await wait_for(
                database,
                shop.account_id,
                (SESSIONS, SESSIONS, SESSIONS),
                SETTLED_WITHIN - (time.monotonic() - restarted_at),
            )
            print(
                f"\n[{backend}] cold restart: killed -> restarted {restarted_at - killed_at:.1f} s, up after "
                f"{up_at - restarted_at:.1f} s, retry unstuck after {unstuck_at - restarted_at:.1f} s, all completed "
                f"{time.monotonic() - restarted_at:.1f} s after the restart ({time.monotonic() - killed_at:.1f} s "
                "after the kill)"
            )
            await charged_once(database, shop.account_id, stripe)
