"""A Stripe renewal whose process died before it reached Stripe, against localstripe on both backends: recovery sends
the charge it staged, with the same key, as the renewal would have: off-session, for the Stripe customer the saved
method is attached to (Stripe refuses an attached method charged without its customer)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.clock import FrozenClock
from checkstand.db import Database
from checkstand.invoices.models import PAID, SUBSCRIPTION_CYCLE, Invoice
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.payments import flow as payment_flow
from checkstand.payments import off_session, renewals
from checkstand.payments.models import SUCCEEDED
from checkstand.processors.base import PaymentMethod
from checkstand.processors.stripe import METADATA_KEY
from checkstand.subscriptions import lifecycle
from checkstand.subscriptions.models import Subscription
from tests.localstripe import LocalStripe
from tests.payments import flow
from tests.shop import Shop


async def test_a_stripe_renewal_left_unsent_is_charged_off_session_for_its_customer_by_recovery(
    session: AsyncSession, database: Database, shop: Shop, localstripe: LocalStripe, frozen_clock: FrozenClock
) -> None:
    await flow.stripe(session, shop.account_id, localstripe.api_base)
    created = await flow.open_session(session, shop.account_id, [shop.yearly])
    pm = localstripe.card_method("4242424242424242")
    pay = flow.gateway(database)
    attempt = await payment_flow.confirm(pay, created.secure_token, flow.paying(PaymentMethod(processor_reference=pm)))
    assert attempt.state == SUCCEEDED
    async with database.reading() as fresh:
        subscription = await fresh.scalar(select(Subscription).where(Subscription.checkout_session_id == created.id))
        assert subscription is not None
        method = await fresh.get(SavedPaymentMethod, subscription.default_payment_method_id)
        assert method is not None
    stripe_customer = method.processor_customer_reference
    assert stripe_customer is not None

    # The renewal staged and committed, then its process gone before the call to Stripe.
    frozen_clock.advance(timedelta(days=367))
    async with database.writing() as work:
        locked = await lifecycle.lock_subscription(work, shop.account_id, subscription.id)
        opened = await renewals._open_renewal(work, pay, locked, now=frozen_clock.now(), manual=False)
        await work.commit()
    assert opened.staged is not None
    assert localstripe.payment_intents_with_key(opened.staged.request.idempotency_key, METADATA_KEY) == []

    frozen_clock.advance(pay.policy.attempt_lease + timedelta(seconds=1))
    assert await off_session.recover_charges(pay) == 1

    [intent] = localstripe.payment_intents_with_key(opened.staged.request.idempotency_key, METADATA_KEY)
    assert (intent["status"], intent["amount"], intent["payment_method"]) == ("succeeded", 9000, pm)
    assert (intent["customer"], intent["off_session"]) == (stripe_customer, True)
    async with database.reading() as fresh:
        invoice = await fresh.scalar(
            select(Invoice).where(
                Invoice.subscription_id == subscription.id, Invoice.billing_reason == SUBSCRIPTION_CYCLE
            )
        )
        assert invoice is not None
        assert invoice.status == PAID
