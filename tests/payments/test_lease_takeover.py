"""A restarted process settles its predecessor's orphans (checkout attempts, off-session charges) at once, and never
what a live process drives: a lease names its owner's instance, a process that binds the instance's claim knows the
instance's earlier processes are dead and ends their leases, and a process that can't bind it (the instance's holder
lives) takes nothing over. The end to end case, a killed ``checkstand serve`` restarted on its port, is in
``test_killed_server.py``."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand import cli
from checkstand.app import create_app
from checkstand.core import clock
from checkstand.core.clock import FrozenClock
from checkstand.core.ids import new_id
from checkstand.customers import service as customers
from checkstand.db import Database
from checkstand.payments import flow as payment_flow
from checkstand.payments import leases, off_session, recovery
from checkstand.payments.models import (
    CHARGE_PENDING,
    FAILED,
    PROCESSING,
    SUCCEEDED,
    CheckoutAttempt,
    Payment,
    PaymentCharge,
)
from checkstand.settings import Settings
from tests.invoices.factory import saved_card
from tests.payments import flow
from tests.shop import Shop

LEASE = timedelta(minutes=10)
"""Far longer than the tests: an attempt they see settled was freed by the takeover, not by its lease running out."""


@pytest.fixture
def instance() -> str:
    """An instance of this test's own: claims are host-wide, and other tests may run beside it."""
    return f"test_{uuid.uuid4().hex[:12]}:serve:8000"


async def leased(session: AsyncSession, shop: Shop, owner: str | None) -> str:
    """An attempt committed as processing, its first charge not yet made, leased to ``owner`` for :data:`LEASE`."""
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])
    attempt, _ = await payment_flow.begin_attempt(
        session, created.secure_token, flow.paying(), public_url=flow.PUBLIC_URL, limits=flow.POLICY.rate_limits
    )
    await leases.hold(session, attempt.id, LEASE, owner)
    await session.commit()
    return attempt.id


async def states(database: Database) -> dict[str, tuple[str, datetime | None]]:
    async with database.reading() as fresh:
        return {a.id: (a.state, a.lease_expires_at) for a in await fresh.scalars(select(CheckoutAttempt))}


async def recover(database: Database) -> int:
    return await recovery.recover_stuck_attempts(flow.gateway(database))


async def test_the_claim_of_an_instance_frees_its_dead_processes_attempts_and_no_one_elses(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock, instance: str
) -> None:
    await flow.simulator(session, shop.account_id)
    dead = await leased(session, shop, f"{instance}/{uuid.uuid4().hex}")
    # Alive, all of them: another port, an instance whose name merely starts alike, one that LIKE would match where
    # this instance's name has a wildcard ("_"), and a process that claimed no instance.
    other_port = await leased(session, shop, f"{instance}1/{uuid.uuid4().hex}")
    lookalike = await leased(session, shop, f"{instance.replace('test_', 'test-')}/{uuid.uuid4().hex}")
    unclaimed = await leased(session, shop, None)

    claim = leases.claim(instance)
    assert claim is not None
    try:
        mine = await leased(session, shop, claim.owner.id)
        async with database.writing() as writing:
            assert await leases.take_over(writing, claim.owner) == 1
            await writing.commit()
    finally:
        claim.release()

    assert await recover(database) == 1
    after = await states(database)
    assert after[dead][0] == FAILED  # settled: the processor never received its charge
    until = clock.now() + LEASE
    for alive in (other_port, lookalike, unclaimed, mine):
        assert after[alive] == (PROCESSING, until)
    assert await recover(database) == 0


async def test_a_process_that_cannot_claim_the_instance_its_holder_lives_takes_nothing_over(
    session: AsyncSession,
    database: Database,
    shop: Shop,
    settings: Settings,
    frozen_clock: FrozenClock,
    instance: str,
) -> None:
    await flow.simulator(session, shop.account_id)
    holder = create_app(settings, database=database, instances=(instance,))
    async with holder.router.lifespan_context(holder):
        live_owner = holder.state.lease_owner
        assert live_owner is not None
        assert live_owner.startswith(f"{instance}/")
        driving = await leased(session, shop, live_owner)

        # A second process of the same instance (its holder still draining, say) starts beside the live one.
        beside = create_app(settings, database=database, instances=(instance,))
        async with beside.router.lifespan_context(beside):
            assert beside.state.lease_owner is None
            assert await recover(database) == 0
            assert (await states(database))[driving] == (PROCESSING, clock.now() + LEASE)

    # The holder is gone: the next process of the instance claims it and frees the attempt for recovery at once.
    restarted = create_app(settings, database=database, instances=(instance,))
    async with restarted.router.lifespan_context(restarted):
        assert restarted.state.lease_owner not in (None, live_owner)
        assert await recover(database) == 1
    assert (await states(database))[driving][0] == FAILED


async def pending_charge(database: Database, session: AsyncSession, account_id: str, owner: str) -> str:
    """An off-session charge on a saved card committed as pending, not yet made, leased to ``owner``."""
    processor_id, reference = await saved_card(database, session, account_id)
    customer = await customers.create_customer(session, account_id, email="ada@example.test")
    payment = Payment(
        id=new_id(off_session.PAYMENT_PREFIX),
        account_id=account_id,
        customer_id=customer.id,
        status=PROCESSING,
        amount_atom=900,
        currency="usd",
        payment_metadata={},
    )
    session.add(payment)
    await session.flush()
    method = off_session.SavedMethod(processor_id, reference)
    staged = await off_session.stage_charge(session, payment, method, lease=LEASE, now=None, owner=owner)
    await session.commit()
    return staged.charge_id


async def test_the_claim_frees_the_off_session_charges_its_dead_process_left_pending(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock, instance: str
) -> None:
    dead = await pending_charge(database, session, shop.account_id, f"{instance}/{uuid.uuid4().hex}")
    alive = await pending_charge(database, session, shop.account_id, f"{instance}1/{uuid.uuid4().hex}")

    claim = leases.claim(instance)
    assert claim is not None
    try:
        async with database.writing() as writing:
            assert await leases.take_over(writing, claim.owner) == 1
            await writing.commit()
    finally:
        claim.release()

    assert await off_session.recover_charges(flow.gateway(database)) == 1
    async with database.reading() as fresh:
        charges = {c.id: (c.status, c.lease_expires_at) for c in await fresh.scalars(select(PaymentCharge))}
    assert charges[dead][0] == SUCCEEDED
    assert charges[alive] == (CHARGE_PENDING, clock.now() + LEASE)


async def test_a_named_worker_holds_its_name_on_this_host_while_it_runs(
    database: Database, settings: Settings, instance: str
) -> None:
    name = instance.split(":")[0]
    named = settings.model_copy(update={"instance_name": name})
    async with cli._instance(database, named) as owner:
        assert owner is not None
        assert owner.startswith(f"{leases.worker_instance(name)}/")
        async with cli._instance(database, named) as beside:
            assert beside is None  # a second worker of the name leases in no one's name: nothing of it is taken over
    async with cli._instance(database, named) as restarted:
        assert restarted not in (None, owner)
    async with cli._instance(database, settings) as unnamed:
        assert unnamed is None
