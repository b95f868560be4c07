"""An off-session charge's lease is renewed while its process waits on the processor, so recovery leaves a slow
charge to the process that makes it (as it leaves a checkout attempt, ``test_recovery.py``), and takes over only once
the renewals stop. A real slow processor: localstripe behind a gate that holds the renewal's PaymentIntent call."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.clock import FrozenClock
from checkstand.db import Database
from checkstand.invoices.models import PAID, SUBSCRIPTION_CYCLE, Invoice
from checkstand.payments import flow as payment_flow
from checkstand.payments import off_session, renewals
from checkstand.payments.adapters import Gateway
from checkstand.payments.models import CHARGE_PENDING, SUCCEEDED, PaymentCharge
from checkstand.processors.base import PaymentMethod
from checkstand.processors.stripe import METADATA_KEY
from checkstand.subscriptions import lifecycle
from checkstand.subscriptions.models import Subscription
from tests.localstripe import LocalStripe
from tests.payments import flow
from tests.payments.test_slow_processor import STRIPE_ANSWERS_WITHIN, StripeGate, held
from tests.shop import Shop

LEASE = timedelta(seconds=0.3)


async def test_recovery_leaves_an_off_session_charge_alone_while_its_process_renews_the_lease(
    session: AsyncSession, database: Database, shop: Shop, localstripe: LocalStripe, frozen_clock: FrozenClock
) -> None:
    renewing = False

    def charges_the_renewal(request: web.Request) -> bool:
        return renewing and request.method == "POST" and request.path.startswith("/v1/payment_intents")

    async with StripeGate(localstripe.api_base, charges_the_renewal) as gate:
        await flow.stripe(session, shop.account_id, gate.api_base)
        created = await flow.open_session(session, shop.account_id, [shop.yearly])
        method = PaymentMethod(processor_reference=localstripe.card_method(flow.GOOD_CARD))
        pay = Gateway(
            database=database,
            public_url=flow.PUBLIC_URL,
            box=flow.BOX,
            policy=dataclasses.replace(flow.POLICY, attempt_lease=LEASE),
        )
        assert (await payment_flow.confirm(pay, created.secure_token, flow.paying(method))).state == SUCCEEDED
        async with database.reading() as fresh:
            subscription_id = await fresh.scalar(
                select(Subscription.id).where(Subscription.checkout_session_id == created.id)
            )
        assert subscription_id is not None

        frozen_clock.advance(timedelta(days=367))
        async with database.writing() as work:
            locked = await lifecycle.lock_subscription(work, shop.account_id, subscription_id)
            opened = await renewals._open_renewal(work, pay, locked, now=frozen_clock.now(), manual=False)
            await work.commit()
        assert opened.staged is not None
        renewing = True
        charging = asyncio.create_task(off_session.make_charge(pay, opened.staged))
        await held(gate, charging)

        for _ in range(3):  # twice past the first lease in all
            frozen_clock.advance(timedelta(seconds=0.2))
            await asyncio.sleep(1)  # renewals (every 0.1 s) stamp the moved clock
            assert await off_session.recover_charges(pay) == 0
        gate.open()
        charge = await asyncio.wait_for(charging, STRIPE_ANSWERS_WITHIN)

    assert charge is not None
    assert charge.status == SUCCEEDED
    assert len(localstripe.payment_intents_with_key(opened.staged.request.idempotency_key, METADATA_KEY)) == 1
    async with database.reading() as fresh:
        renewal = await fresh.scalar(
            select(Invoice.status).where(
                Invoice.subscription_id == subscription_id, Invoice.billing_reason == SUBSCRIPTION_CYCLE
            )
        )
        pending = await fresh.scalar(select(PaymentCharge.id).where(PaymentCharge.status == CHARGE_PENDING))
    assert (renewal, pending) == (PAID, None)
